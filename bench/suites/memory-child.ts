/**
 * Child process of the memory suite: opens the runtime on a seeded data dir, measures RSS idle, then
 * makes every account a live actor (one `runtime.load` each, which hydrates it in its worker and keeps
 * it in memory) and measures RSS again. One JSON line out.
 */
import { readFileSync } from 'node:fs';

const [dir, countArg] = process.argv.slice(2);
const count = Number(countArg);
const { catchUpViews, startRuntime } = await import('../support/runtime.js');
const { findServer } = await import('../support/server.js');

/** Anonymous (heaps, buffers) vs file-backed (LMDB's memory map, code) resident memory, in bytes. */
const split = (): { anon: number; file: number } => {
  const status = readFileSync('/proc/self/status', 'utf8');
  const kb = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { anon: kb('RssAnon'), file: kb('RssFile') + kb('RssShmem') };
};

const settle = async (): Promise<number> => {
  (globalThis as { gc?: () => void }).gc?.();
  await new Promise((r) => setTimeout(r, 300));
  return process.memoryUsage().rss;
};

const rssBefore = process.memoryUsage().rss;
// coldLoads 'owner': a load must hydrate the actor in its worker (a calling-thread load makes no actor live).
const rt = await startRuntime(dir!, { maxLiveActors: Math.max(200_000, count * 2), idlePassivateMs: 0, coldLoads: 'owner' });
await catchUpViews(rt);
// The server process, when the server exists: the figure is about what `npm start` holds in memory.
const factory = await findServer();
const server = factory ? await factory(rt) : null;
const rssIdle = await settle();
const idleSplit = split();
const window = 2000;
let next = 0;
const loader = async (): Promise<void> => {
  while (next < count) await rt.load('account', `m-${next++}`);
};
const t0 = performance.now();
await Promise.all(Array.from({ length: window }, loader));
const loadMs = performance.now() - t0;
const stats = await rt.stats();
const live = stats.reduce((n, s) => n + s.liveActors, 0);
const rssLive = await settle();
const liveSplit = split();
console.log(JSON.stringify({ rssBefore, rssIdle, rssLive, idleSplit, liveSplit, live, loadMs, server: server !== null, heapUsedMain: process.memoryUsage().heapUsed }));
await server?.close();
await rt.close();
