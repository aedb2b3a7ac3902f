/**
 * Restart: a new process opens a data dir holding 1 000 000 events over 10 000 streams (each with its
 * snapshot) and the runtime becomes ready (`createRuntime` resolves; `/health` answers 200 once the
 * HTTP server exists). Timed from spawn, so node + tsx start-up counts; the baseline is the same spawn
 * of a module that prints at once. The page cache is warm (the data was just written): a restart after
 * a reboot also pays the disk reads, but start-up reads only the partition heads.
 */
import { measured } from '../figures.js';
import type { Suite } from '../support/context.js';
import { buildPackage } from '../support/build.js';
import { runChild, runPlain } from '../support/child.js';
import { PARTITIONS, seedAndSettle } from '../support/runtime.js';
import { accounts, seedAccounts } from '../support/seed.js';
import { median } from '../support/stats.js';
import { makeTempDir, removeTempDir } from '../support/tmp.js';
import { fmt } from './throughput.js';

const CHILD = new URL('./restart-child.ts', import.meta.url);
const BUILT_CHILD = new URL('./restart-built.mjs', import.meta.url);

const sizes = (quick: boolean) => (quick ? { streams: 1_000, perStream: 20, rounds: 1 } : { streams: 10_000, perStream: 100, rounds: 3 });

interface ChildReport {
  ready: number;
  createMs?: number;
  viaHealth?: boolean;
}

export const restartSuite: Suite = {
  name: 'restart',
  figures: ['restart.ready'],
  steps: (quick) => 1 + sizes(quick).rounds + (quick ? 0 : 1),
  async run(ctx) {
    const s = sizes(ctx.quick);
    const dir = makeTempDir('restart');
    try {
      const total = s.streams * s.perStream;
      ctx.step(`seeding ${fmt(total)} events over ${fmt(s.streams)} streams`);
      // Full mode lets the views catch up first (the steady state a restart meets); quick mode skips it.
      if (ctx.quick) await seedAccounts(dir, accounts('r-', s.streams, s.perStream), { partitions: PARTITIONS, snapshotEvery: 100, chunk: 20_000 });
      else await seedAndSettle(dir, accounts('r-', s.streams, s.perStream), { snapshotEvery: 100, chunk: 20_000 });
      const ready: number[] = [];
      const floor: number[] = [];
      const create: number[] = [];
      const built: number[] = [];
      const builtCreate: number[] = [];
      let viaHealth = false;
      const buildDir = ctx.quick ? null : makeTempDir('restart-build');
      try {
        if (buildDir) ctx.step('building the package (tsc)');
        const dist = buildDir ? buildPackage(buildDir) : null;
        for (let r = 0; r < s.rounds; r++) {
          ctx.step(`restart ${r + 1}/${s.rounds}`);
          const empty = await runChild<ChildReport>(CHILD, [dir, '--empty']);
          floor.push(empty.wallMs);
          const full = await runChild<ChildReport>(CHILD, [dir]);
          ready.push(full.wallMs);
          create.push(full.result.createMs ?? Number.NaN);
          viaHealth = full.result.viaHealth ?? false;
          if (dist) {
            const b = await runPlain<ChildReport>(BUILT_CHILD, [dist, dir]);
            built.push(b.wallMs);
            builtCreate.push(b.result.createMs ?? Number.NaN);
          }
        }
      } finally {
        if (buildDir) removeTempDir(buildDir);
      }
      const size = `${fmt(total)} events / ${fmt(s.streams)} streams${ctx.quick ? ' (quick size)' : ''}`;
      const sources = `from sources (tsx): ${(median(ready) / 1000).toFixed(2)} s to ${viaHealth ? '/health 200' : 'createRuntime resolved (no HTTP server yet)'}, createRuntime alone ${median(create).toFixed(0)} ms`;
      ctx.figure(
        built.length
          ? measured('restart.ready', {
              value: median(built) / 1000,
              baseline: { name: 'node+tsx start', value: median(floor) / 1000, unit: 's' },
              note: `${size}; built package (as npm start), spawn to /health 200, createRuntime alone ${median(builtCreate).toFixed(0)} ms; ${sources}; median of ${s.rounds}`,
            })
          : measured('restart.ready', {
              value: median(ready) / 1000,
              baseline: { name: 'node+tsx start', value: median(floor) / 1000, unit: 's' },
              note: `${size}; ${sources}${ctx.quick ? '' : ' (the package build failed, so no built figure)'}; median of ${s.rounds}`,
            }),
      );
    } finally {
      removeTempDir(dir);
    }
  },
};
