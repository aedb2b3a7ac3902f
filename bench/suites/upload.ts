/** RSS growth of a server process while a client streams a large upload to `POST /videos` (see upload-child.ts). */
import { measured, type Figure } from '../figures.js';
import { runChild } from '../support/child.js';
import { makeTempDir, removeTempDir } from '../support/tmp.js';

export const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
const CHILD = new URL('./upload-child.ts', import.meta.url);

interface ChildReport {
  rssBefore: number;
  peak: number;
  seconds: number;
  status: number;
  body: string;
}

export async function uploadFigure(bytes: number, quick: boolean): Promise<Figure> {
  const dir = makeTempDir('upload');
  try {
    const { result: r } = await runChild<ChildReport>(CHILD, [dir, String(bytes)], ['--expose-gc']);
    if (r.status !== 202) throw new Error(`upload answered ${r.status}: ${r.body}`);
    return measured('upload.rssGrowth', {
      value: (r.peak - r.rssBefore) / MiB,
      baseline: { name: 'RSS before', value: r.rssBefore / MiB, unit: 'MiB' },
      note: `${bytes / MiB} MiB${quick ? ' (quick size)' : ''} streamed to POST /videos in ${r.seconds.toFixed(1)} s (${(bytes / MiB / r.seconds).toFixed(0)} MiB/s); server and client in one child process, RSS sampled every 20 ms`,
    });
  } finally {
    removeTempDir(dir);
  }
}
