/**
 * `npm run demo`: the video pipeline end to end with a generated clip.
 *
 *   node --import tsx scripts/demo.ts                       start a server in this process (temporary data dir)
 *   node --import tsx scripts/demo.ts --url http://127.0.0.1:3000   use a running server (`npm start`)
 *
 * It makes a test clip with ffmpeg (testsrc pattern + a 440 Hz tone), uploads it with one streaming
 * POST /videos, and prints every status and progress change until the video is SUCCEEDED (exit 0) or
 * FAILED / CANCELLED (exit 1). Options: --seconds N (default 4), --size WxH (default 1280x720),
 * --data-dir DIR (own server only; default a temporary dir, removed afterwards), --timeout-ms N.
 * DEMO_URL works like --url. While the own server runs, its dashboard is at the printed URL.
 */
import { execFile } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { createEventide } from '../src/app/index.js';
import type { Runtime } from '../src/runtime/index.js';
import { buildServer } from '../src/server/index.js';
import { videoRoutes } from '../src/server/routes/videos.js';
import { createVideoPipeline, resolveFfmpegBinaries, type VideoPipeline } from '../src/video/index.js';

interface VideoView {
  id: string;
  status: string;
  attempt: number;
  progress: number;
  renditions: Array<{ height: number; bytes: number; url: string }>;
  thumbnail?: string;
  error?: { reason: string };
}

const HELP = `usage: npm run demo -- [--url URL] [--seconds N] [--size WxH] [--data-dir DIR] [--timeout-ms N]

Makes a test clip with ffmpeg, uploads it, and prints every status and progress change of its encode.
Without --url (or DEMO_URL) it starts a server in this process on a temporary data dir (or --data-dir)
and prints its URL: the console is there while the demo runs.
  --url URL        use a running server instead (e.g. http://127.0.0.1:3000 from npm start)
  --seconds N      clip length, in (0, 600] (default 4)
  --size WxH       clip size (default 1280x720)
  --timeout-ms N   give up after N ms (default 300000)
Exit codes: 0 the video SUCCEEDED; 1 it FAILED or was CANCELLED, or the demo failed; 2 usage.`;

async function main(): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      options: {
        help: { type: 'boolean', short: 'h', default: false },
        url: { type: 'string' },
        seconds: { type: 'string', default: '4' },
        size: { type: 'string', default: '1280x720' },
        'data-dir': { type: 'string' },
        'timeout-ms': { type: 'string', default: '300000' },
      },
    });
  } catch (err) {
    process.stderr.write(`Usage: ${(err as Error).message}\n${HELP}\n`);
    return 2;
  }
  const { values } = parsed;
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const seconds = Number(values.seconds);
  const size = /^(\d{2,4})x(\d{2,4})$/.exec(values.size);
  if (!(seconds > 0 && seconds <= 600) || !size) {
    process.stderr.write(`Usage: --seconds must be in (0, 600] and --size WxH\n${HELP}\n`);
    return 2;
  }
  const timeoutMs = Number(values['timeout-ms']);

  const work = await mkdtemp(join(tmpdir(), 'eventide-demo-'));
  let own: { runtime: Runtime; pipeline: VideoPipeline; close(): Promise<void> } | null = null;
  try {
    let base = values.url ?? process.env.DEMO_URL;
    if (!base) {
      const dataDir = values['data-dir'] ? resolve(values['data-dir']) : join(work, 'data');
      const eventide = await createEventide({ dataDir });
      const { runtime, views } = eventide;
      const pipeline = await createVideoPipeline({ runtime, encode: { preset: 'veryfast' } });
      const app = await buildServer({ runtime, views, plugins: [videoRoutes({ runtime, pipeline })], logger: { level: 'warn' } });
      pipeline.setLogger(app.log);
      base = await app.listen({ port: 0, host: '127.0.0.1' });
      own = {
        runtime,
        pipeline,
        async close() {
          await app.close();
          await pipeline.close();
          await eventide.close();
        },
      };
      console.log(`server: ${base} (in this process; data dir ${dataDir}; ffmpeg: ${pipeline.versions.ffmpeg.split(' ').slice(0, 3).join(' ')})`);
    } else {
      console.log(`server: ${base} (already running)`);
    }
    base = base.replace(/\/$/, '');

    const clip = join(work, 'clip.mp4');
    const [w, h] = [size[1], size[2]];
    await run(resolveFfmpegBinaries().ffmpeg, [
      '-v', 'error', '-y',
      '-f', 'lavfi', '-i', `testsrc=duration=${seconds}:size=${w}x${h}:rate=25`,
      '-f', 'lavfi', '-i', `sine=frequency=440:duration=${seconds}`,
      '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-shortest', clip,
    ]);
    const bytes = (await stat(clip)).size;
    console.log(`clip:   ${w}x${h}, ${seconds} s, ${bytes} bytes (ffmpeg testsrc + sine)`);

    const started = Date.now();
    const up = await fetch(`${base}/videos`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(bytes) },
      body: Readable.toWeb(createReadStream(clip)) as ReadableStream<Uint8Array>,
      duplex: 'half',
    } as RequestInit);
    const created = (await up.json()) as { id?: string; status?: string; error?: string; message?: string };
    if (up.status !== 202 || !created.id) throw new Error(`upload refused: ${up.status} ${created.error}: ${created.message}`);
    console.log(`upload: 202 ${JSON.stringify(created)}`);

    let last = '';
    for (;;) {
      const res = await fetch(`${base}/videos/${created.id}`);
      const v = (await res.json()) as VideoView;
      const line = v.status === 'PROCESSING' ? `PROCESSING attempt ${v.attempt} ${String(v.progress).padStart(3)}%  renditions: ${v.renditions.map((r) => `${r.height}p`).join(', ') || '-'}` : v.status;
      if (line !== last) {
        console.log(`${((Date.now() - started) / 1000).toFixed(1).padStart(6)} s  ${line}`);
        last = line;
      }
      if (v.status === 'SUCCEEDED') {
        for (const r of v.renditions) console.log(`          ${r.height}p  ${r.bytes} bytes  ${base}${r.url}`);
        if (v.thumbnail) console.log(`          thumbnail  ${base}${v.thumbnail}`);
        console.log(`          events     ${base}/videos/${v.id}/events`);
        return 0;
      }
      if (v.status === 'FAILED' || v.status === 'CANCELLED') {
        console.log(`          ${v.error?.reason ?? ''}`);
        return 1;
      }
      if (Date.now() - started > timeoutMs) {
        console.log(`gave up waiting after ${timeoutMs} ms`);
        return 1;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    await own?.close();
    await rm(work, { recursive: true, force: true });
  }
}

function run(file: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => execFile(file, args, (err, _out, stderr) => (err ? reject(new Error(`${file} failed: ${stderr || err.message}`)) : resolve())));
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  },
);
