// Memory child on the built package (what `npm start` runs: plain JS, no tsx in any thread). Same steps
// as memory-child.ts: open the runtime and the server on a seeded data dir, let the views catch up,
// measure RSS idle, make every account a live actor (one runtime.load each), measure again, each once the
// heaps settled (memory-settle.mjs). One JSON line.
import { readFileSync } from 'node:fs';

const [dist, dir, countArg] = process.argv.slice(2);
const count = Number(countArg);
const { createRuntime } = await import(`${dist}/src/runtime/index.js`);
const { Views, projectionEngine } = await import(`${dist}/src/projections/index.js`);
const { buildServer } = await import(`${dist}/src/server/app.js`);

/** Anonymous (heaps, buffers) vs file-backed (LMDB's memory map, code) resident memory, in bytes. */
const split = () => {
  const status = readFileSync('/proc/self/status', 'utf8');
  const kb = (name) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { anon: kb('RssAnon'), file: kb('RssFile') + kb('RssShmem') };
};
const { settledRss: settle } = await import('./memory-settle.mjs');
const settledRss = () => settle(() => rt.stats());
const heapOfThreads = async () => ({ main: process.memoryUsage().heapUsed, workers: (await rt.stats()).reduce((n, s) => n + s.heapUsed, 0) });

const rssBefore = process.memoryUsage().rss;
// coldLoads 'owner': a load must hydrate the actor in its worker (a calling-thread load makes no actor live).
const rt = await createRuntime({ dataDir: dir, maxLiveActors: Math.max(200_000, count * 2), idlePassivateMs: 0, coldLoads: 'owner', workerPlugins: [projectionEngine()] });
const views = await Views.open(rt);
for (;;) {
  const lag = views.names().reduce((n, v) => n + views.lag(v).reduce((m, l) => m + l.lag, 0), 0);
  if (lag === 0) break;
  await new Promise((r) => setTimeout(r, 50));
}
const app = await buildServer({ runtime: rt, logger: false });
await app.listen({ port: 0, host: '127.0.0.1' });
const idle = await settledRss();
const rssIdle = idle.rss;
const idleSplit = split();
const heapIdle = await heapOfThreads();
let next = 0;
const loader = async () => {
  while (next < count) await rt.load('account', `m-${next++}`);
};
const t0 = performance.now();
await Promise.all(Array.from({ length: 2000 }, loader));
const loadMs = performance.now() - t0;
const rssLoaded = process.memoryUsage().rss;
const live = (await rt.stats()).reduce((n, s) => n + s.liveActors, 0);
const settled = await settledRss();
const rssLive = settled.rss;
const liveSplit = split();
const heapLive = await heapOfThreads();
console.log(JSON.stringify({ rssBefore, rssIdle, rssLoaded, rssLive, idleSplit, liveSplit, live, loadMs, server: true, built: true, settleS: [idle.waitedS, settled.waitedS], heapIdle, heapLive }));
await app.close();
await views.close?.();
await rt.close();
