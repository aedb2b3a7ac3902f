/**
 * Reconciliation (issue 4): replaying the log finds every row of a view that drifted from the truth,
 * reports it as `{ id, view, truth }`, and repairs it on request; afterwards the drift is 0. The same
 * works from the command line on a stopped server's data dir (scripts/views.ts, which also rebuilds and
 * inspects a stream step by step), and the command line refuses a data dir a live runtime holds.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { open } from 'lmdb';
import { describe, expect, it } from 'vitest';
import { accountDecider, partitionOf, type AccountState, type Runtime } from '../../src/index.js';
import { balancesView, Views, type BalanceRow, type Mismatch, type ReconcileReport } from '../../src/projections/index.js';
import { rejectionOf } from '../support/errors.js';
import { fullHistory } from '../support/log-checks.js';
import { CATCH_UP_TIMEOUT_MS, freshReads, listAll, rowsById, runViewsCli, truthOf, waitCaughtUp } from '../support/projections-views.js';
import { withViews } from '../support/projections-runtime.js';
import { useRuntimes } from '../support/runtimes.js';

const IDS = Array.from({ length: 12 }, (_, i) => `rc-${String(i).padStart(2, '0')}`);

/** Opens every account and gives each a few deposits and a withdrawal; waits until `balances` caught up. */
async function seed(runtime: Runtime, views: Views): Promise<void> {
  await Promise.all(
    IDS.map(async (id, i) => {
      await runtime.execute('account', id, { type: 'Open', data: { owner: `owner-${i}` } });
      for (let k = 1; k <= 3; k++) await runtime.execute('account', id, { type: 'Deposit', data: { amount: 100 * k + i } });
      await runtime.execute('account', id, { type: 'Withdraw', data: { amount: 50 } });
    }),
  );
  await waitCaughtUp(runtime, views, 'balances');
}

interface Corruption {
  wrong: { id: string; view: BalanceRow; truth: BalanceRow };
  ghost: { id: string; view: BalanceRow };
  deleted: { id: string; truth: BalanceRow };
}

/** Writes three kinds of drift straight into the active generation: a wrong balance, a ghost row, a deleted row. */
async function corrupt(runtime: Runtime, views: Views, wrongId: string, deletedId: string, ghostId: string): Promise<Corruption> {
  const store = runtime.log.views;
  const generation = store.meta('balances').active;
  const wrongTruth = (await views.get<BalanceRow>('balances', wrongId)).row;
  const deletedTruth = (await views.get<BalanceRow>('balances', deletedId)).row;
  const wrongRow = { ...wrongTruth, balance: wrongTruth.balance + 1_000_000 };
  const ghostRow: BalanceRow = { owner: 'nobody', balance: 42, open: true, version: 1, updatedAt: 0 };
  await store.putRow('balances', generation, wrongId, wrongRow);
  await store.putRow('balances', generation, ghostId, ghostRow);
  await store.putRow('balances', generation, deletedId, undefined);
  return { wrong: { id: wrongId, view: wrongRow, truth: wrongTruth }, ghost: { id: ghostId, view: ghostRow }, deleted: { id: deletedId, truth: deletedTruth } };
}

function expectReportsCorruption(report: ReconcileReport, c: Corruption, rowsInTruth: number): void {
  expect(report.drift).toBe(3);
  // Every row of the view and every row of the truth is checked once (the ghost is only in the view).
  expect(report.checked).toBe(rowsInTruth + 1);
  const byId = new Map<string, Mismatch>(report.mismatches.map((m) => [m.id, m]));
  expect(report.mismatches).toHaveLength(3);
  expect(byId.get(c.wrong.id)).toEqual({ id: c.wrong.id, view: c.wrong.view, truth: c.wrong.truth });
  expect(byId.get(c.ghost.id)).toEqual({ id: c.ghost.id, view: c.ghost.view, truth: null });
  expect(byId.get(c.deleted.id)).toEqual({ id: c.deleted.id, view: null, truth: c.deleted.truth });
}

/** The command-line specs spawn processes (seconds each from TypeScript sources): a generous bound, never asserted on. */
const SPAWNS = 120_000;

describe('reconciling a view with the log', () => {
  const runtimes = useRuntimes('reconcile', withViews());

  it('reports each corrupted row with its view and truth, repairs them, and then finds no drift', async () => {
    const runtime = await runtimes.start({ durability: 'commit' });
    const views = await Views.open(runtime);
    await seed(runtime, views);
    expect(await views.reconcile('balances')).toEqual({ checked: IDS.length, drift: 0, mismatches: [], repaired: 0, damaged: [] });

    const c = await corrupt(runtime, views, 'rc-03', 'rc-07', 'rc-ghost');
    const found = await views.reconcile('balances');
    expectReportsCorruption(found, c, IDS.length);
    expect(found.repaired).toBe(0);
    // Reporting alone changes nothing.
    expect((await views.reconcile('balances')).drift).toBe(3);

    const repaired = await views.reconcile('balances', { repair: true });
    expectReportsCorruption(repaired, c, IDS.length);
    expect(repaired.repaired).toBe(3);

    expect(await views.reconcile('balances')).toEqual({ checked: IDS.length, drift: 0, mismatches: [], repaired: 0, damaged: [] });
    await freshReads();
    expect(rowsById(listAll(views, 'balances'))).toEqual(truthOf(runtime, balancesView));
    expect((await views.get('balances', 'rc-07')).row).toEqual(c.deleted.truth);
    expect((await rejectionOf(views.get('balances', 'rc-ghost'))).code).toBe('NotFound');
    // The repaired rows keep folding correctly: new events land on the truth, not on the corruption.
    const r = await runtime.execute<AccountState>('account', 'rc-03', { type: 'Deposit', data: { amount: 1 } });
    const last = r.events[0]!;
    await views.waitFor('balances', { partition: last.partition, offset: last.offset }, CATCH_UP_TIMEOUT_MS);
    await freshReads();
    expect((await views.get<BalanceRow>('balances', 'rc-03')).row).toMatchObject({ balance: r.state.balance, version: r.version });
  });

  it('counts every drifted row but lists at most maxMismatches of them', async () => {
    const runtime = await runtimes.start({ durability: 'commit' });
    const views = await Views.open(runtime);
    await seed(runtime, views);
    const generation = runtime.log.views.meta('balances').active;
    for (const id of IDS.slice(0, 5)) await runtime.log.views.putRow('balances', generation, id, undefined);
    const report = await views.reconcile('balances', { maxMismatches: 2 });
    expect(report.drift).toBe(5);
    expect(report.mismatches).toHaveLength(2);
    expect((await views.reconcile('balances', { repair: true })).repaired).toBe(5);
    expect((await views.reconcile('balances')).drift).toBe(0);
  });

  // Regression test (bug found and fixed): the worker's reconcile-with-repair clears its row cache and then awaits the commit of
  // the repaired rows; a drain in that window misses the cache, reads the still-committed corrupt row from
  // LMDB, folds the new event onto it and writes it back over the repair (worker-projector.ts, 'reconcile').
  it('repairs rows for good even while new events for those very accounts keep arriving', async () => {
    const runtime = await runtimes.start({ durability: 'commit' });
    const views = await Views.open(runtime);
    await seed(runtime, views);
    const generation = runtime.log.views.meta('balances').active;
    for (let round = 0; round < 5; round++) {
      for (const id of IDS) {
        const { row } = await views.get<BalanceRow>('balances', id);
        await runtime.log.views.putRow('balances', generation, id, { ...row, balance: row.balance + 7 });
      }
      // The repair and a burst of deposits on every corrupted account race each other. The repair is
      // asked first: deposits decided before it would let the live projection overwrite the corrupt rows
      // from its own cache, and the repair would then find nothing to do.
      const repairing = views.reconcile('balances', { repair: true });
      const burst = IDS.flatMap((id) => Array.from({ length: 5 }, () => runtime.execute('account', id, { type: 'Deposit', data: { amount: 1 } })));
      const [report] = await Promise.all([repairing, ...burst]);
      expect(report.drift).toBeGreaterThan(0);
      await waitCaughtUp(runtime, views, 'balances');
      const after = await views.reconcile('balances');
      expect(after.mismatches, `round ${round}`).toEqual([]);
      expect(rowsById(listAll(views, 'balances'))).toEqual(truthOf(runtime, balancesView));
    }
  });

  it('reconciles, repairs, rebuilds and inspects a stopped data dir from the command line', async () => {
    const runtime = await runtimes.start({ durability: 'commit' });
    const dir = runtime.dataDir;
    const views = await Views.open(runtime);
    await seed(runtime, views);
    const c = await corrupt(runtime, views, 'rc-01', 'rc-02', 'rc-ghost');
    const history = await fullHistory(runtime, 'account', 'rc-05');
    const truth = truthOf(runtime, balancesView);
    await runtimes.close(runtime);

    const found = await runViewsCli(['reconcile', 'balances', '--json', '--data-dir', dir]);
    expect(found.code, found.stderr).toBe(1);
    expectReportsCorruption(JSON.parse(found.stdout) as ReconcileReport, c, IDS.length);

    const fixed = await runViewsCli(['reconcile', 'balances', '--repair', '--json', '--data-dir', dir]);
    expect(fixed.code, fixed.stderr).toBe(0);
    expect(JSON.parse(fixed.stdout)).toMatchObject({ drift: 3, repaired: 3 });

    const clean = await runViewsCli(['reconcile', 'balances', '--json', '--data-dir', dir]);
    expect(clean.code, clean.stderr).toBe(0);
    expect(JSON.parse(clean.stdout)).toEqual({ checked: IDS.length, drift: 0, mismatches: [], repaired: 0, damaged: [] });

    const rebuilt = await runViewsCli(['rebuild', 'balances', '--json', '--data-dir', dir]);
    expect(rebuilt.code, rebuilt.stderr).toBe(0);
    const { generation } = JSON.parse(rebuilt.stdout) as { view: string; generation: number; rows: number };
    expect(JSON.parse(rebuilt.stdout)).toEqual({ view: 'balances', generation, rows: IDS.length });

    // inspect: every event, and the state right after it, as the decider folds it.
    const inspected = await runViewsCli(['inspect', 'account', 'rc-05', '--data-dir', dir]);
    expect(inspected.code, inspected.stderr).toBe(0);
    const lines = inspected.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(2 * history.length);
    let state = accountDecider.initialState();
    history.forEach((e, i) => {
      state = accountDecider.evolve(state, e as never);
      expect(lines[2 * i]).toBe(`#${e.seq} ${new Date(e.ts).toISOString()} ${e.type} ${JSON.stringify(e.data)}`);
      expect(lines[2 * i + 1]).toBe(`    -> ${JSON.stringify(state)}`);
    });
    const asJson = await runViewsCli(['inspect', 'account', 'rc-05', '--json', '--data-dir', dir]);
    expect(asJson.code, asJson.stderr).toBe(0);
    const inspectedJson = JSON.parse(asJson.stdout) as { aggregateType: string; id: string; version: number; events: Array<{ seq: number; type: string; state: AccountState }> };
    expect(inspectedJson).toMatchObject({ aggregateType: 'account', id: 'rc-05', version: history.length });
    const steps = inspectedJson.events;
    expect(steps.map((s) => s.seq)).toEqual(history.map((e) => e.seq));
    expect(steps[steps.length - 1]!.state).toEqual(state);

    // Unknown names are usage errors, an unknown stream is "not found", and nothing is written either way.
    expect((await runViewsCli(['reconcile', 'no-such-view', '--data-dir', dir])).code).toBe(2);
    expect((await runViewsCli(['inspect', 'account', 'rc-nobody', '--data-dir', dir])).code).toBe(1);

    // A runtime on the dir after all that serves the rebuilt generation, equal to the truth of the log.
    const reopened = await runtimes.start({ dataDir: dir, durability: 'commit' });
    const reopenedViews = await Views.open(reopened);
    expect(reopened.log.views.meta('balances')).toEqual({ active: generation, building: null });
    expect(rowsById(listAll(reopenedViews, 'balances'))).toEqual(truth);
    expect(await reopenedViews.reconcile('balances')).toMatchObject({ drift: 0 });
  }, SPAWNS);

  it('lists a partition it cannot read (a damaged event) and checks the others, instead of failing whole', async () => {
    const runtime = await runtimes.start({ durability: 'commit' });
    const dir = runtime.dataDir;
    const views = await Views.open(runtime);
    await seed(runtime, views);
    const partitions = runtime.partitionCount;
    await runtimes.close(runtime);
    // One event of rc-04 damaged (its value's last byte): its partition's log cannot be replayed past it.
    const raw = open({ path: join(dir, 'log.mdb'), maxDbs: 16 });
    const events = raw.openDB('events', { encoding: 'binary', keyEncoding: 'ordered-binary' });
    const value = Buffer.from(events.getBinary(['account', 'rc-04', 2])!);
    value[value.length - 1] = value[value.length - 1]! ^ 0x04;
    events.putSync(['account', 'rc-04', 2], value);
    await raw.close();

    const damaged = partitionOf('rc-04', partitions);
    const r = await runViewsCli(['reconcile', 'balances', '--json', '--data-dir', dir]);
    expect(r.code, r.stderr).toBe(1);
    const report = JSON.parse(r.stdout) as ReconcileReport;
    expect(report.damaged).toEqual([{ partition: damaged, code: 'CorruptRecord', message: expect.stringContaining('events ["account","rc-04",2]') }]);
    expect(report.checked).toBe(IDS.filter((id) => partitionOf(id, partitions) !== damaged).length);
    expect(report.drift).toBe(0);
  }, SPAWNS);

  it('says a data dir has no log (a mistyped path) instead of creating one', async () => {
    const dir = join(await runtimes.dataDir(), 'no-such-dir');
    const r = await runViewsCli(['reconcile', 'balances', '--json', '--data-dir', dir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`no event log in ${dir}`);
    expect(existsSync(dir)).toBe(false);
  }, SPAWNS);

  it('refuses to touch a data dir while a runtime holds it', async () => {
    const runtime = await runtimes.start({ durability: 'commit' });
    const views = await Views.open(runtime);
    await seed(runtime, views);
    const commands = [['reconcile', 'balances', '--repair'], ['rebuild', 'balances'], ['inspect', 'account', 'rc-00']];
    const results = await Promise.all(commands.map((args) => runViewsCli([...args, '--data-dir', runtime.dataDir])));
    results.forEach((r, i) => {
      expect(r.code, commands[i]!.join(' ')).toBe(3);
      expect(r.stderr).toContain('DataDirLocked: ');
      expect(r.stderr).toContain(`in use by process ${process.pid}`);
      expect(r.stdout).toBe('');
    });
    // The live runtime is untouched and still serves.
    expect(runtime.health().ok).toBe(true);
    expect(await views.reconcile('balances')).toMatchObject({ drift: 0 });
  }, SPAWNS);
});
