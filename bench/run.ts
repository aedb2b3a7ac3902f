/**
 * `npm run bench [-- --quick] [-- --only throughput,hydration] [-- --out DIR]`
 * (a plain `--quick` leaves out the suites marked `notInQuick`; `--quick --only NAME` runs one at its quick size)
 *
 * Runs every suite in turn (one process: suites share nothing but the machine; each makes its own data
 * dirs in os.tmpdir() and removes them), prints one table, and writes `latest.json`, `table.md` and one
 * SVG per curve to the results dir: `bench/results/` for a full run, `bench/results/quick/` for a quick
 * one (so CI's quick runs never overwrite the full run the README quotes), or `--out`.
 *
 * A suite that throws reports its figures as not available with the error, the other suites still run,
 * and the process exits 1.
 */
import { mkdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { notAvailable, type Figure } from './figures.js';
import { writePlots } from './plot.js';
import { machineMeta, peersText, textTable, writeResults, type RunMeta } from './report.js';
import type { BenchContext, Curve, PeerTable, Suite } from './support/context.js';
import { Progress } from './support/progress.js';
import { hydrationSuite } from './suites/hydration.js';
import { httpSuite } from './suites/http.js';
import { memorySuite } from './suites/memory.js';
import { encodeSuite } from './suites/encode.js';
import { feedSuite } from './suites/feed.js';
import { catchUpSuite } from './suites/catch-up.js';
import { restartSuite } from './suites/restart.js';
import { peersSuite } from './suites/peers.js';
import { throughputSuite } from './suites/throughput.js';
import { stallsSuite } from './suites/stalls.js';
import { clusterSuite } from './suites/cluster.js';
import { lifecycleSuite } from './suites/lifecycle.js';

// In the order of the table (the throughput suite also reports the latency at half its capacity); the
// peers suite first, as its table comes first.
const SUITES: Suite[] = [peersSuite, throughputSuite, stallsSuite, httpSuite, hydrationSuite, restartSuite, feedSuite, catchUpSuite, encodeSuite, memorySuite, lifecycleSuite, clusterSuite];

/** Per suite; generous, since other work may share the machine. */
function suiteTimeoutMs(quick: boolean): number {
  return quick ? 180_000 : 8 * 60_000; // quick: the peers suite alone took 73 s on a loaded box
}

interface Args {
  quick: boolean;
  only: string[] | null;
  out: string;
}

function parseArgs(argv: string[]): Args {
  let quick = false;
  let only: string[] | null = null;
  let out: string | null = null;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = (): string => {
      const eq = a.indexOf('=');
      if (eq >= 0) return a.slice(eq + 1);
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--quick') quick = true;
    else if (a.startsWith('--only')) only = value().split(',').map((s) => s.trim()).filter(Boolean);
    else if (a.startsWith('--out')) out = value();
    else throw new Error(`unknown argument ${a}; use --quick, --only a,b, --out DIR`);
  }
  const results = fileURLToPath(new URL('./results/', import.meta.url));
  return { quick, only, out: resolve(out ?? (quick ? `${results}quick` : results)) };
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const known = new Set(SUITES.map((s) => s.name));
  for (const o of args.only ?? []) if (!known.has(o)) throw new Error(`unknown suite ${o}; suites: ${[...known].join(', ')}`);
  const suites = SUITES.filter((s) => (args.only ? args.only.includes(s.name) : !(args.quick && s.notInQuick)));
  const machine = machineMeta();
  const started = performance.now();
  const figures = new Map<string, Figure>();
  // A plain quick run still reports every figure: those of the suites it leaves out say why.
  if (args.quick && !args.only) for (const s of SUITES) if (s.notInQuick) for (const id of s.figures) figures.set(id, notAvailable(id, `not available in quick mode: ${s.notInQuick}`));
  const curves: Curve[] = [];
  let peers: PeerTable | null = null;
  const failed: RunMeta['failedSuites'] = [];
  const suiteSeconds: Record<string, number> = {};
  const progress = new Progress(suites.reduce((n, s) => n + s.steps(args.quick), 0));
  const shared: BenchContext['shared'] = {};

  for (const suite of suites) {
    const ctx: BenchContext = {
      quick: args.quick,
      cores: availableParallelism(),
      figure: (f) => void figures.set(f.id, f),
      curve: (c) => void curves.push(c),
      peers: (t) => void (peers = t),
      step: (label) => progress.step(`${suite.name}: ${label}`),
      info: (m) => progress.info(m),
      shared,
    };
    const t0 = performance.now();
    let timer: NodeJS.Timeout | undefined;
    const limit = args.quick ? suiteTimeoutMs(true) : (suite.fullTimeoutMs ?? suiteTimeoutMs(false));
    try {
      // A runtime that never answers must not hang the whole run: the suite fails, the others still run.
      await Promise.race([
        suite.run(ctx),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`timed out after ${limit / 1000} s (a command or load never answered?)`)), limit);
        }),
      ]);
    } catch (err) {
      const message = (err as Error)?.stack ?? String(err);
      failed.push({ suite: suite.name, error: message });
      progress.info(`suite ${suite.name} failed: ${message}`);
      for (const id of suite.figures) if (!figures.has(id)) figures.set(id, notAvailable(id, `suite ${suite.name} failed: ${(err as Error)?.message ?? String(err)}`));
    } finally {
      clearTimeout(timer);
    }
    suiteSeconds[suite.name] = Math.round((performance.now() - t0) / 100) / 10;
    for (const id of suite.figures) if (!figures.has(id)) figures.set(id, notAvailable(id, `suite ${suite.name} did not report it`));
  }
  progress.stop();

  const ordered = [...figures.values()];
  mkdirSync(args.out, { recursive: true });
  const meta: RunMeta = {
    date: new Date().toISOString(),
    mode: args.quick ? 'quick' : 'full',
    command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
    durationSec: (performance.now() - started) / 1000,
    ...machine,
    suiteSeconds,
    failedSuites: failed,
  };
  const path = writeResults(args.out, { meta, peers, figures: ordered, curves });
  const plots = writePlots(args.out, curves);
  if (peers) console.log(`\n${peersText(peers)}`);
  if (ordered.length) console.log(`\n${textTable(ordered)}\n`);
  console.log(`${meta.mode} run in ${meta.durationSec.toFixed(0)} s on ${machine.cpu.count} x ${machine.cpu.model}, node ${machine.node}, commit ${machine.git.commit.slice(0, 12)}`);
  console.log(`wrote ${path} and ${plots.length} plot(s)`);
  if (failed.length) console.log(`FAILED suites: ${failed.map((f) => f.suite).join(', ')}`);
  return failed.length ? 1 : 0;
}

// Exit explicitly: a suite that timed out may have left a runtime (worker threads, LMDB) open.
main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(2);
  },
);
