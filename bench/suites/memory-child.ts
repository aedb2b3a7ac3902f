/**
 * Child process of the memory suite: opens the runtime on a seeded data dir, measures RSS idle, then
 * makes every account a live actor (one `runtime.load` each, which hydrates it in its worker and keeps
 * it in memory) and measures RSS again. One JSON line out.
 *
 * Both measurements wait for the heaps to settle (memory-settle.mjs): right after a burst (the views'
 * catch-up, the loads) each thread's V8 heap holds the burst's garbage and headroom, which V8's memory
 * reducer gives back within ~25 s of quiet. Measured at once, both figures were mostly that slack.
 */
import { readFileSync } from 'node:fs';
import { settledRss as settle } from './memory-settle.mjs';

const [dir, countArg, mode] = process.argv.slice(2);
const quick = mode === 'quick';
const count = Number(countArg);
const { catchUpViews, startRuntime } = await import('../support/runtime.js');
const { findServer } = await import('../support/server.js');

/** Anonymous (heaps, buffers) vs file-backed (LMDB's memory map, code) resident memory, in bytes. */
const split = (): { anon: number; file: number } => {
  const status = readFileSync('/proc/self/status', 'utf8');
  const kb = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { anon: kb('RssAnon'), file: kb('RssFile') + kb('RssShmem') };
};

/** Quick mode (third argument 'quick') only proves the suite works: shorter waits. */
const settledRss = () => (quick ? settle(() => rt.stats(), 3, 8) : settle(() => rt.stats()));
const heapOfThreads = async (): Promise<{ main: number; workers: number }> => ({ main: process.memoryUsage().heapUsed, workers: (await rt.stats()).reduce((n, s) => n + s.heapUsed, 0) });

const rssBefore = process.memoryUsage().rss;
// coldLoads 'owner': a load must hydrate the actor in its worker (a calling-thread load makes no actor live).
const rt = await startRuntime(dir!, { maxLiveActors: Math.max(200_000, count * 2), idlePassivateMs: 0, coldLoads: 'owner' });
await catchUpViews(rt);
// The server process, when the server exists: the figure is about what `npm start` holds in memory.
const factory = await findServer();
const server = factory ? await factory(rt) : null;
const idle = await settledRss();
const rssIdle = idle.rss;
const idleSplit = split();
const heapIdle = await heapOfThreads();
const window = 2000;
let next = 0;
const loader = async (): Promise<void> => {
  while (next < count) await rt.load('account', `m-${next++}`);
};
const t0 = performance.now();
await Promise.all(Array.from({ length: window }, loader));
const loadMs = performance.now() - t0;
const rssLoaded = process.memoryUsage().rss;
const stats = await rt.stats();
const live = stats.reduce((n, s) => n + s.liveActors, 0);
const settled = await settledRss();
const rssLive = settled.rss;
const liveSplit = split();
const heapLive = await heapOfThreads();
console.log(JSON.stringify({ rssBefore, rssIdle, rssLoaded, rssLive, idleSplit, liveSplit, live, loadMs, server: server !== null, settleS: [idle.waitedS, settled.waitedS], heapIdle, heapLive }));
await server?.close();
await rt.close();
