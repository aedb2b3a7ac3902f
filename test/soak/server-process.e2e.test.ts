/**
 * The soak counts a start refused by the data-dir lock separately from other failed starts (issue 10:
 * an immediate restart after kill -9 was refused). This proves the refusal is recognised: a second
 * server on a dir a live server holds fails to start with `lockRefused`, and the first keeps serving.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { StartFailed, startServer } from '../../scripts/soak/server-process.js';

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true, maxRetries: 3 })));
});

describe('the soak server process', () => {
  it('starts the server on a free port, reports a second start on the same data dir as refused by the lock, and stops it cleanly', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'eventide-soak-proc-'));
    dirs.push(dataDir);
    const settings = { dataDir, partitions: 2, workers: 1, readyTimeoutMs: 120_000 };
    const first = await startServer(settings);
    try {
      expect(first.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const second = await startServer(settings).then(
        () => null,
        (err: unknown) => err,
      );
      expect(second).toBeInstanceOf(StartFailed);
      expect((second as StartFailed).lockRefused, (second as StartFailed).output).toBe(true);
      expect((await fetch(`${first.url}/health`)).status).toBe(200);
    } finally {
      expect(await first.stop(30_000)).toBe('0');
    }
  }, 180_000);
});
