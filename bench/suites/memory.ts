/**
 * Memory: RSS of a process running the runtime with 100 000 live accounts and 1 000 000 events in the
 * log (10 per account), in a fresh child process so the bench's own heap does not count; bytes per
 * live actor = (anonymous RSS with them live - the same runtime idle on the same log) / live actors,
 * both measured once the heaps settled (memory-settle.mjs). The baseline is that idle RSS. RSS growth during a 1 GiB upload needs the server's upload route.
 *
 * The measured process starts on a log whose views are current, as a server restarted on the log it
 * wrote finds it: the seed writes events only, so the views catch up first in the bench's own process
 * (`seedAndSettle`). Until session 11 the child caught them up itself, and its RSS then held the
 * ~380 MiB of LMDB map pages that reading 1M events through the views touches (file-backed pages the
 * kernel reclaims under pressure, but counted in RSS).
 */
import { measured, notAvailable } from '../figures.js';
import type { Suite } from '../support/context.js';
import { buildPackage } from '../support/build.js';
import { runChild, runPlain } from '../support/child.js';
import { seedAndSettle } from '../support/runtime.js';
import { accounts } from '../support/seed.js';
import { NO_SERVER, srcExists } from '../support/server.js';
import { GiB, uploadFigure } from './upload.js';
import { makeTempDir, removeTempDir } from '../support/tmp.js';
import { fmt } from './throughput.js';

const CHILD = new URL('./memory-child.ts', import.meta.url);
const BUILT_CHILD = new URL('./memory-built.mjs', import.meta.url);
const MiB = 1024 * 1024;

const sizes = (quick: boolean) => (quick ? { accounts: 5_000, perAccount: 4 } : { accounts: 100_000, perAccount: 10 });

interface ChildReport {
  rssBefore: number;
  /** Both once the heaps settled (memory-settle.mjs). */
  rssIdle: number;
  rssLive: number;
  /** Right after the loads, before the heaps settled. */
  rssLoaded: number;
  settleS: [number, number];
  /** V8 heap in use, main thread and all worker threads together. */
  heapIdle: { main: number; workers: number };
  heapLive: { main: number; workers: number };
  live: number;
  loadMs: number;
  server: boolean;
  built?: boolean;
  idleSplit: { anon: number; file: number };
  liveSplit: { anon: number; file: number };
}

export const memorySuite: Suite = {
  name: 'memory',
  figures: ['memory.rss', 'memory.perActor', 'upload.rssGrowth'],
  steps: () => 3,
  async run(ctx) {
    const s = sizes(ctx.quick);
    const dir = makeTempDir('memory');
    try {
      const total = s.accounts * s.perAccount;
      ctx.step(`seeding ${fmt(total)} events over ${fmt(s.accounts)} accounts`);
      // The views catch up here, in this process: the child starts on a log they have applied (see the header).
      const catchUpS = await seedAndSettle(dir, accounts('m-', s.accounts, s.perAccount), { snapshotEvery: 100, chunk: 20_000 });
      ctx.info(`memory: the views caught up with the seed in ${catchUpS.toFixed(1)} s (bench process)`);
      ctx.step(`making ${fmt(s.accounts)} actors live (child process)`);
      // Full mode measures the built package, as `npm start` runs it (no tsx in any thread); quick mode,
      // which only proves the suite works, runs from sources.
      const buildDir = ctx.quick ? null : makeTempDir('memory-build');
      let r: ChildReport;
      try {
        const dist = buildDir ? buildPackage(buildDir) : null;
        r = dist
          ? (await runPlain<ChildReport>(BUILT_CHILD, [dist, dir, String(s.accounts)], ['--expose-gc'])).result
          : (await runChild<ChildReport>(CHILD, [dir, String(s.accounts), ctx.quick ? 'quick' : 'full'], ['--expose-gc'])).result;
      } finally {
        if (buildDir) removeTempDir(buildDir);
      }
      if (r.live !== s.accounts) throw new Error(`expected ${s.accounts} live actors, the workers report ${r.live}`);
      const size = `${fmt(s.accounts)} live accounts, ${fmt(total)} events${ctx.quick ? ' (quick size)' : ''}`;
      ctx.figure(
        measured('memory.rss', {
          value: r.rssLive / MiB,
          baseline: { name: 'idle runtime RSS', value: r.rssIdle / MiB, unit: 'MiB' },
          note: `${size}; ${r.server ? 'server process (runtime + fastify app listening)' : 'runtime process (no HTTP server yet)'}, ${r.built ? 'built package (as npm start)' : 'from sources (tsx)'}, started on a log whose views were current (a restart); loading them took ${(r.loadMs / 1000).toFixed(1)} s; ` +
            `both figures once the heaps settled (waited ${r.settleS.map((t) => t.toFixed(0)).join(' s and ')} s; right after the loads: ${(r.rssLoaded / MiB).toFixed(0)} MiB); ` +
            `of the RSS: ${(r.liveSplit.anon / MiB).toFixed(0)} MiB anonymous (heaps), ${(r.liveSplit.file / MiB).toFixed(0)} MiB file-backed (LMDB map pages, code: the kernel reclaims them under pressure)`,
        }),
      );
      ctx.figure(
        measured('memory.perActor', {
          value: (r.liveSplit.anon - r.idleSplit.anon) / r.live,
          note: `(anonymous RSS live - idle) / live actors, both settled; V8 heap the actors retain: ${((r.heapLive.workers - r.heapIdle.workers) / r.live).toFixed(0)} B in the workers (actor records, states, Map entries) + ${((r.heapLive.main - r.heapIdle.main) / r.live).toFixed(0)} B on the main thread (the state cache); ` +
            `all RSS: ${((r.rssLive - r.rssIdle) / r.live).toFixed(0)} B (the rest is LMDB pages read while hydrating)`,
        }),
      );
      ctx.step(`uploading ${ctx.quick ? '32 MiB' : '1 GiB'} (child process)`);
      if (!srcExists('server/routes/videos') || !srcExists('video/index')) ctx.figure(notAvailable('upload.rssGrowth', `${NO_SERVER} (or its video routes)`));
      else ctx.figure(await uploadFigure(ctx.quick ? GiB / 32 : GiB, ctx.quick));
    } finally {
      removeTempDir(dir);
    }
  },
};
