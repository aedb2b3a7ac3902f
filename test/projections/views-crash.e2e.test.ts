/**
 * Views survive kill -9 (DESIGN invariant 5): a child process runs the runtime with its views and fires
 * commands without pause; the test SIGKILLs it at several moments (right after start, mid-stream, in the
 * middle of a rebuild's catch-up, late) and reopens the data dir each time. Once caught up, every view
 * equals a fresh fold of the log and a fresh rebuild, reconcile finds no drift, and the guard-less
 * `event-counts` probe proves the engine applied no event twice (rows and checkpoint commit together).
 *
 * The last spec recreates deterministically what a crash during a rebuild leaves in the data dir (a
 * generation marked `building`) and checks that the next rebuild leaves only the active generation.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { builtinViews, LmdbLog, type AccountState, type Runtime } from '../../src/index.js';
import { balancesView, videosView, Views, type AnyProjection, type BalanceRow } from '../../src/projections/index.js';
import { runTsScript, type ChildRun } from '../support/child-process.js';
import { allStreams } from '../support/log-checks.js';
import { eventCountProjection, eventCountView, type EventCountRow } from '../support/projections-event-count-view.js';
import { freshReads, listAll, rowsById, truthOf, waitCaughtUp } from '../support/projections-views.js';
import { withViews } from '../support/projections-runtime.js';
import { useRuntimes } from '../support/runtimes.js';

const writerScript = new URL('../support/projections-writer.ts', import.meta.url);
const VIEWS: AnyProjection[] = [balancesView, videosView, eventCountProjection];
const RUNTIME_OPTIONS = { partitions: 4, durability: 'commit' as const, ...withViews([...builtinViews, eventCountView]) };

/** Resolves once a line satisfying `match` was read from the child. */
async function waitForLine(run: ChildRun, match: (line: string) => boolean): Promise<void> {
  while (!run.lines.some(match)) await run.waitForLines(run.lines.length + 1);
}

/** Highest acknowledged version per account, from the child's `ack <id> <version>` lines. */
function acknowledged(lines: readonly string[], into: Map<string, number>): number {
  let n = 0;
  for (const line of lines) {
    const m = /^ack (\S+) (\d+)$/.exec(line);
    if (!m) continue;
    n++;
    into.set(m[1]!, Math.max(into.get(m[1]!) ?? 0, Number(m[2])));
  }
  return n;
}

/** Every generation (up to a bound) that still holds a row or a checkpoint of `view`. */
function generationsWithData(runtime: Runtime, view: string): number[] {
  const meta = runtime.log.views.meta(view);
  const top = Math.max(meta.active, meta.building ?? 0) + 2;
  const out: number[] = [];
  for (let g = 0; g <= top; g++) {
    const hasRows = [...runtime.log.views.rows(view, g, undefined, 1)].length > 0;
    const hasCheckpoints = Array.from({ length: runtime.partitionCount }, (_, p) => runtime.log.views.checkpoint(view, g, p)).some((c) => c > 0);
    if (hasRows || hasCheckpoints) out.push(g);
  }
  return out;
}

/** The checks after a reopen: caught up, equal to the truth, no drift, nothing applied twice, nothing acknowledged lost. */
async function expectViewsMatchTheLog(runtime: Runtime, views: Views, acked: ReadonlyMap<string, number>): Promise<void> {
  for (const p of VIEWS) {
    await waitCaughtUp(runtime, views, p.name);
    expect(views.failure(p.name)).toBeNull();
    // Reconcile first: it waits until the workers' pending view writes are committed. (A Views opened
    // during a catch-up pass may report checkpoints before their rows commit: see views-catch-up.)
    expect(await views.reconcile(p.name), p.name).toMatchObject({ drift: 0, mismatches: [] });
    expect(rowsById(listAll(views, p.name)), p.name).toEqual(truthOf(runtime, p));
  }
  const streams = allStreams(runtime.log, 'account');
  const counts = rowsById(listAll<EventCountRow>(views, 'event-counts'));
  const balances = rowsById(listAll<BalanceRow>(views, 'balances'));
  expect(Object.keys(counts).sort()).toEqual([...streams.keys()].sort());
  for (const [id, events] of streams) {
    // Exactly once: the guard-less probe counted each event of the stream once.
    expect(counts[id], id).toEqual({ events: events.length, lastSeq: events.length });
    const loaded = await runtime.load<AccountState>('account', id);
    expect(balances[id], id).toMatchObject({ ...loaded.state, version: loaded.version });
  }
  for (const [id, version] of acked) {
    expect(streams.get(id)?.length ?? 0, `acknowledged ${id}#${version}`).toBeGreaterThanOrEqual(version);
    expect(balances[id]!.version).toBeGreaterThanOrEqual(version);
  }
}

describe('views after kill -9 of the process running them', () => {
  const runtimes = useRuntimes('views-crash');
  // A spec that fails or times out while a writer runs must not leave it running (this hook runs first).
  const writers = new Set<ChildRun>();
  afterEach(async () => {
    await Promise.all([...writers].map((w) => w.kill()));
    writers.clear();
  });

  /**
   * Runs the writer on `dir` until `waitAcks` commands were acknowledged (and, with `rebuildAfter`, until
   * its rebuild is under way), kills it, reopens the dir and checks every view against the log.
   */
  async function killAndCheck(dir: string, acked: Map<string, number>, waitAcks: number, rebuildAfter: number | null = null): Promise<void> {
    const writer = runTsScript(writerScript, rebuildAfter === null ? [dir] : [dir, String(rebuildAfter)]);
    writers.add(writer);
    try {
      await writer.waitForLines(1 + waitAcks);
      if (rebuildAfter !== null) await waitForLine(writer, (l) => l === 'rebuilding');
    } finally {
      const lines = await writer.kill();
      writers.delete(writer);
      expect(writer.stderr()).toBe('');
      acknowledged(lines, acked);
    }
    const runtime = await runtimes.start({ ...RUNTIME_OPTIONS, dataDir: dir });
    const views = await Views.open(runtime);
    await expectViewsMatchTheLog(runtime, views, acked);
    const before = rowsById(listAll(views, 'balances'));
    expect(await views.rebuild('balances')).toMatchObject({ state: 'swapped' });
    await freshReads();
    expect(rowsById(listAll(views, 'balances'))).toEqual(before);
    await runtimes.close(runtime);
  }

  // Each spec spawns processes (seconds each from TypeScript sources): a generous bound, never asserted on.
  const SPAWNS = 120_000;

  it('reopens equal to the log when killed right after its first acknowledgement', async () => {
    const acked = new Map<string, number>();
    await killAndCheck(await runtimes.dataDir(), acked, 1);
    expect(acked.size).toBeGreaterThanOrEqual(1);
  }, SPAWNS);

  it('reopens equal to the log, with no event applied twice, when killed mid-stream', async () => {
    const acked = new Map<string, number>();
    await killAndCheck(await runtimes.dataDir(), acked, 600);
    expect(acked.size).toBeGreaterThan(1);
  }, SPAWNS);

  it('reopens equal to the log when killed while a rebuild catches up under load', async () => {
    await killAndCheck(await runtimes.dataDir(), new Map(), 150, 100);
  }, SPAWNS);

  it('reopens equal to the log after several kills of runs on the same data dir', async () => {
    const dir = await runtimes.dataDir();
    const acked = new Map<string, number>();
    await killAndCheck(dir, acked, 300);
    await killAndCheck(dir, acked, 1200);
  }, SPAWNS);

  // Regression test (bug found and fixed): after a crash mid-rebuild, `view_meta.building` names a half-built generation. On
  // restart the workers keep projecting it (worker-projector.ts adds it as a target), Views knows nothing
  // of it, and the next rebuild (views.ts) builds max(active, building) + 1, swaps, and retires/drops only
  // the old active generation: the orphan's rows and checkpoints stay in LMDB and are projected forever.
  it('leaves only the active generation once a rebuild follows one that a crash interrupted', async () => {
    const dir = await runtimes.dataDir();
    let runtime = await runtimes.start({ ...RUNTIME_OPTIONS, dataDir: dir });
    let views = await Views.open(runtime);
    await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        await runtime.execute('account', `gen-${i}`, { type: 'Open', data: { owner: `o${i}` } });
        await runtime.execute('account', `gen-${i}`, { type: 'Deposit', data: { amount: 10 + i } });
      }),
    );
    await waitCaughtUp(runtime, views, 'balances');
    const active = runtime.log.views.meta('balances').active;
    await runtimes.close(runtime);

    // What a crash right after a rebuild's first step leaves behind: a generation marked `building`.
    const log = LmdbLog.open(dir);
    await log.views.setMeta('balances', { active, building: active + 1 });
    await log.close();

    runtime = await runtimes.start({ ...RUNTIME_OPTIONS, dataDir: dir });
    views = await Views.open(runtime);
    await expectViewsMatchTheLog(runtime, views, new Map());
    const status = await views.rebuild('balances');
    expect(status.state).toBe('swapped');
    await waitCaughtUp(runtime, views, 'balances');
    expect(rowsById(listAll(views, 'balances'))).toEqual(truthOf(runtime, balancesView));
    expect(runtime.log.views.meta('balances')).toEqual({ active: status.generation, building: null });
    expect(generationsWithData(runtime, 'balances')).toEqual([status.generation]);
  });
});
