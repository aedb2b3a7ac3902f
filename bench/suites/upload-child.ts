/**
 * Child process of the upload figure: the project's server with the video routes, and a client in the
 * same process streaming `bytes` of incompressible data to `POST /videos` as application/octet-stream.
 * RSS is sampled every 20 ms; prints RSS before, the peak during the upload, and the upload's answer.
 */
import { request } from 'node:http';
import { randomFillSync } from 'node:crypto';
import { Readable } from 'node:stream';

const [dir, bytesArg] = process.argv.slice(2);
const total = Number(bytesArg);
const { startRuntime } = await import('../support/runtime.js');
const { srcModule } = await import('../support/server.js');

interface FastifyApp {
  listen(o: { port: number; host: string }): Promise<string>;
  close(): Promise<unknown>;
}
const { buildServer } = (await import(srcModule('server/app').href)) as { buildServer: (o: Record<string, unknown>) => Promise<FastifyApp> };
const { videoRoutes } = (await import(srcModule('server/routes/videos').href)) as { videoRoutes: (o: Record<string, unknown>) => unknown };
const { createVideoPipeline } = (await import(srcModule('video/index').href)) as {
  createVideoPipeline: (o: Record<string, unknown>) => Promise<{ close(): Promise<void> }>;
};

const rt = await startRuntime(dir!);
const pipeline = await createVideoPipeline({ runtime: rt, maxJobs: 1, maxUploadBytes: total + 1024 });
const app = await buildServer({ runtime: rt, logger: false, dashboard: false, defaultMetrics: false, plugins: [videoRoutes({ runtime: rt, pipeline })] });
const url = new URL(await app.listen({ port: 0, host: '127.0.0.1' }));

(globalThis as { gc?: () => void }).gc?.();
await new Promise((r) => setTimeout(r, 200));
const rssBefore = process.memoryUsage().rss;
let peak = rssBefore;
const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);

const chunk = randomFillSync(Buffer.allocUnsafe(256 * 1024));
let sent = 0;
const body = new Readable({
  read() {
    if (sent >= total) return void this.push(null);
    const n = Math.min(chunk.length, total - sent);
    sent += n;
    this.push(n === chunk.length ? chunk : chunk.subarray(0, n));
  },
});
const t0 = performance.now();
const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
  const req = request(
    { host: url.hostname, port: url.port, path: '/videos', method: 'POST', headers: { 'content-type': 'application/octet-stream', 'content-length': String(total) } },
    (res) => {
      let b = '';
      res.on('data', (d: Buffer) => (b += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: b }));
    },
  );
  req.on('error', reject);
  body.pipe(req);
});
const seconds = (performance.now() - t0) / 1000;
clearInterval(sampler);
peak = Math.max(peak, process.memoryUsage().rss);
console.log(JSON.stringify({ rssBefore, peak, seconds, status: answer.status, body: answer.body.slice(0, 300) }));
await app.close();
await pipeline.close();
await rt.close();
