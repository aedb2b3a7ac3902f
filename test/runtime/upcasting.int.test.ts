/**
 * Versioned events end to end in one process: a data dir written by the built-in account decider
 * (`Deposited { amount }`, version 1, records exactly as before versions existed) is opened with a
 * decider whose `Deposited` is version 2 (`{ amount, currency }`, old deposits upcast to euros) and a new
 * state shape (`snapshotVersion: 2`). Every way of reading sees version-2 data: loads (cold hydration in
 * a worker), the time machine at a version and at a time, history, diff, command retries, subscribers,
 * a view that reads `currency` (catch-up, live, rebuild) and reconcile; old snapshots are ignored and
 * rebuilt; new events are stored at version 2 while pages keep what is stored. A build whose decider
 * knows no version 2 refuses those events instead of misreading them. Those need a data dir written by
 * an older build (LMDB only); the last part, events decided at version 2 (stored, read, paged, folded),
 * runs on whichever log the project runs the core suites on (LMDB, and memory in the `memory` project,
 * where the actor hosts share the runtime's log and must not wrap it a second time).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVENT_PAGE, builtinViews, createRuntime, isVersioned, storedReads, type EventEnvelope, type Runtime } from '../../src/index.js';
import { verifyDataDir } from '../../src/log/index.js';
import { Views } from '../../src/projections/index.js';
import { partitionOf } from '../../src/partition/index.js';
import { accountCurrencyDomain, type CurrencyAccountState } from '../support/account-currency-domain.js';
import { accountVersionsOnlyDomain } from '../support/account-versions-only-domain.js';
import { depositsByCurrencyView, type DepositsRow } from '../support/deposits-by-currency-view.js';
import { rejectionOf } from '../support/errors.js';
import { listAll, rowsById, waitCaughtUp } from '../support/projections-views.js';
import { withViews } from '../support/projections-runtime.js';
import { logProbePlugin, type LogProbe } from '../support/log-probe-plugin.js';
import { ON_DISK, useRuntimes } from '../support/runtimes.js';
import { makeTempDir, removeDir } from '../support/temp-dirs.js';

const P = 4;
const SNAPSHOT_EVERY = 10;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const sum = (n: number) => (n * (n + 1)) / 2;

let dataDir: string;
/** The old build's history of acc-1 (its ts per seq, for loads at a time). */
let oldHistory: EventEnvelope[];
let runtime: Runtime;
let views: Views;

/** What the built-in (version-1) account decider wrote: acc-1 (4 events), acc-long (70: snapshots and a page), acc-page (60). */
async function writeOldDataDir(): Promise<void> {
  const old = await createRuntime({ dataDir, partitions: P, workers: 2, snapshotEvery: SNAPSHOT_EVERY });
  try {
    await old.execute('account', 'acc-1', { type: 'Open', data: { owner: 'Ada' } });
    // Apart in time, so each event has its own ts for the time machine.
    for (const [type, amount, commandId] of [['Deposit', 100, 'dep-1'], ['Deposit', 250, 'dep-2'], ['Withdraw', 50, 'wd-1']] as const) {
      await sleep(3);
      await old.execute('account', 'acc-1', { type, data: { amount } }, { commandId });
    }
    oldHistory = await old.history('account', 'acc-1');
    await old.execute('account', 'acc-long', { type: 'Open', data: { owner: 'Bob' } });
    for (let i = 1; i < 70; i++) await old.execute('account', 'acc-long', { type: 'Deposit', data: { amount: i } });
    await old.execute('account', 'acc-page', { type: 'Open', data: { owner: 'Cy' } });
    for (let i = 1; i < 60; i++) await old.execute('account', 'acc-page', { type: 'Deposit', data: { amount: 1 } });
  } finally {
    await old.close();
  }
}

beforeAll(async () => {
  if (!ON_DISK) return;
  dataDir = await makeTempDir('upcasting');
  await writeOldDataDir();
  runtime = await createRuntime({ dataDir, workers: 2, snapshotEvery: SNAPSHOT_EVERY, domains: [accountCurrencyDomain], ...withViews([...builtinViews, depositsByCurrencyView]) });
  views = await Views.open(runtime);
});

afterAll(async () => {
  await views?.close();
  await runtime?.close();
  if (dataDir) await removeDir(dataDir);
});

describe.runIf(ON_DISK)('a version-1 data dir read through a version-2 account decider', () => {
  it('the old build stored its deposits as version 1 (no schema version in the record)', () => {
    const stored = storedReads(runtime.log).readStream('account', 'acc-1');
    expect(stored.map((e) => e.schemaVersion)).toEqual([undefined, undefined, undefined, undefined]);
    expect(stored[1]!.data).toEqual({ amount: 100 });
  });

  it('ignores the snapshots of the old state shape and rebuilds them from the upcast events', async () => {
    const raw = storedReads(runtime.log);
    // The states are read through the runtime's log: stored, they are sealed (the owner is personal data).
    expect(runtime.log.snapshotAtOrBelow('account', 'acc-long')).toMatchObject({ version: 70, snapshotVersion: 1, state: { balance: sum(69) } });
    // Time machine at 65: the old snapshot at 60 does not count, all 65 events are folded.
    const folded = runtime.counters.timeMachineFolded;
    const at65 = await runtime.load<CurrencyAccountState>('account', 'acc-long', { version: 65 });
    expect(at65.state).toEqual({ owner: 'Bob', open: true, balances: { EUR: sum(64) } });
    expect(runtime.counters.timeMachineFolded - folded).toBe(65);
    // A cold load folds everything (on the calling thread), and the owning worker, asked to load it too,
    // persists a snapshot of the new shape.
    expect((await runtime.load<CurrencyAccountState>('account', 'acc-long')).state).toEqual({ owner: 'Bob', open: true, balances: { EUR: sum(69) } });
    await expect.poll(() => (raw.refreshReads(), raw.snapshotAtOrBelow('account', 'acc-long')?.snapshotVersion), { timeout: 10_000 }).toBe(2);
    runtime.log.refreshReads();
    expect(runtime.log.snapshotAtOrBelow('account', 'acc-long')).toMatchObject({ version: 70, state: { balances: { EUR: sum(69) } } });
    const before = runtime.counters.timeMachineFolded;
    expect((await runtime.load('account', 'acc-long', { version: 70 })).state).toEqual({ owner: 'Bob', open: true, balances: { EUR: sum(69) } });
    expect(runtime.counters.timeMachineFolded - before).toBe(0);
  });

  it('loads the current state, and the state at a version and at a time, with euros for old deposits', async () => {
    expect(await runtime.load('account', 'acc-1')).toMatchObject({ version: 4, state: { owner: 'Ada', open: true, balances: { EUR: 300 } } });
    expect(await runtime.load('account', 'acc-1', { version: 2 })).toMatchObject({ version: 2, state: { balances: { EUR: 100 } } });
    expect(await runtime.load('account', 'acc-1', { at: oldHistory[2]!.ts })).toMatchObject({ version: 3, state: { balances: { EUR: 350 } } });
    expect(await runtime.load('account', 'acc-1', { at: new Date(oldHistory[1]!.ts).toISOString() })).toMatchObject({ version: 2, state: { balances: { EUR: 100 } } });
  });

  it('answers history and diff with every Deposited at version 2, other types as stored', async () => {
    const history = await runtime.history('account', 'acc-1');
    expect(history.map((e) => [e.type, e.data, e.schemaVersion])).toEqual([
      ['AccountOpened', { owner: 'Ada' }, undefined],
      ['Deposited', { amount: 100, currency: 'EUR' }, 2],
      ['Deposited', { amount: 250, currency: 'EUR' }, 2],
      ['Withdrawn', { amount: 50 }, undefined],
    ]);
    // Positions and metadata are the stored ones.
    expect(history.map((e) => [e.seq, e.offset, e.ts, e.meta])).toEqual(oldHistory.map((e) => [e.seq, e.offset, e.ts, e.meta]));
    const diff = await runtime.diff<CurrencyAccountState>('account', 'acc-1', { version: 1 }, { at: oldHistory[2]!.ts });
    expect(diff.from!.state.balances).toEqual({});
    expect(diff.to.state.balances).toEqual({ EUR: 350 });
    expect(diff.events.map((e) => e.data)).toEqual([
      { amount: 100, currency: 'EUR' },
      { amount: 250, currency: 'EUR' },
    ]);
  });

  it('answers a retried command with its first events, upcast', async () => {
    const retry = await runtime.execute('account', 'acc-1', { type: 'Deposit', data: { amount: 100 } }, { commandId: 'dep-1' });
    expect(retry).toMatchObject({ duplicate: true, version: 2, state: { balances: { EUR: 100 } } });
    expect(retry.events.map((e) => [e.seq, e.data, e.schemaVersion])).toEqual([[2, { amount: 100, currency: 'EUR' }, 2]]);
  });

  it('stores new deposits at version 2, and answers and announces them so', async () => {
    const announced: EventEnvelope[] = [];
    const unsubscribe = runtime.subscribe((events) => announced.push(...events));
    try {
      const usd = await runtime.execute<CurrencyAccountState>('account', 'acc-1', { type: 'Deposit', data: { amount: 7, currency: 'USD' } });
      expect(usd.state.balances).toEqual({ EUR: 300, USD: 7 });
      expect(usd.events.map((e) => [e.data, e.schemaVersion])).toEqual([[{ amount: 7, currency: 'USD' }, 2]]);
      // Two types in one command: only the versioned one carries a version.
      const two = await runtime.execute('account', 'acc-2', { type: 'OpenWithDeposit', data: { owner: 'Di', amount: 5 } });
      expect(two.events.map((e) => [e.type, e.data, e.schemaVersion])).toEqual([
        ['AccountOpened', { owner: 'Di' }, undefined],
        ['Deposited', { amount: 5, currency: 'EUR' }, 2],
      ]);
      expect(announced.map((e) => e.schemaVersion)).toEqual([2, undefined, 2]);
    } finally {
      unsubscribe();
    }
    const raw = storedReads(runtime.log);
    raw.refreshReads();
    expect(raw.readEvent('account', 'acc-1', 5)).toMatchObject({ data: { amount: 7, currency: 'USD' }, schemaVersion: 2 });
    expect(raw.readEvent('account', 'acc-2', 1)).not.toHaveProperty('schemaVersion');
    // A stream of both versions folds to one state, in the time machine too.
    expect(await runtime.load('account', 'acc-1', { version: 5 })).toMatchObject({ state: { balances: { EUR: 300, USD: 7 } } });
  });

  it('feeds a view that reads `currency` with upcast events (catch-up and live), and rebuild and reconcile agree', async () => {
    // acc-page: 60 old events, 4 new ones complete its first page (written from both versions).
    for (let i = 0; i < 4; i++) await runtime.execute('account', 'acc-page', { type: 'Deposit', data: { amount: 1, currency: 'USD' } });
    await waitCaughtUp(runtime, views, 'deposits');
    const expected: Record<string, DepositsRow> = {
      'acc-1': { EUR: 350, USD: 7 },
      'acc-2': { EUR: 5 },
      'acc-long': { EUR: sum(69) },
      'acc-page': { EUR: 59, USD: 4 },
    };
    expect(rowsById(listAll<DepositsRow>(views, 'deposits'))).toEqual(expected);
    const report = await views.reconcile('deposits');
    expect(report).toMatchObject({ drift: 0, damaged: [] });
    expect(report.checked).toBe(4);
    await views.rebuild('deposits');
    expect(rowsById(listAll<DepositsRow>(views, 'deposits'))).toEqual(expected);
    // The old view, built by the old build from version-1 events, still reconciles.
    expect(await views.reconcile('balances')).toMatchObject({ drift: 0 });
    // The feed reads partitions through the same log: every Deposited there has a currency.
    const p = partitionOf('acc-page', runtime.partitionCount);
    const deposits = [...runtime.log.iteratePartition(p)].filter((e) => e.type === 'Deposited');
    expect(deposits.length).toBeGreaterThan(0);
    for (const e of deposits) expect(e).toMatchObject({ schemaVersion: 2, data: { currency: expect.any(String) } });
  });
});

describe.runIf(ON_DISK)('after the version-2 build', () => {
  it('pages keep the events as stored, not as decoded (verify compares them)', async () => {
    await views.close();
    await runtime.close();
    const report = await verifyDataDir(dataDir, { partitionOf });
    expect(report.partitions.flatMap((p) => p.problems)).toEqual([]);
    expect(report.ok).toBe(true);
  });

  it('a build whose decider knows no version 2 refuses those events rather than misreading them', async () => {
    runtime = await createRuntime({ dataDir, workers: 1, domains: [accountVersionsOnlyDomain] });
    const load = await rejectionOf(runtime.load('account', 'acc-1'));
    expect(load).toMatchObject({ code: 'DeciderFailed', details: { type: 'Deposited', schemaVersion: 2, known: 1 } });
    expect(await rejectionOf(runtime.history('account', 'acc-1'))).toMatchObject({ code: 'DeciderFailed' });
    // Streams with no version-2 event still read.
    expect(await runtime.load('account', 'acc-long')).toMatchObject({ version: 70, state: { balance: sum(69) } });
  });
});

describe('events decided at version 2, on the runtime\'s log', () => {
  const runtimes = useRuntimes('upcasting-log');

  it('are stored, answered, announced, paged and folded with their version; the log is wrapped once', async () => {
    const runtime = await runtimes.start({ domains: [accountCurrencyDomain], partitions: 2, workers: 1, durability: 'commit', workerPlugins: [{ module: logProbePlugin.href }] });
    const raw = storedReads(runtime.log);
    // One decorator on each side (on the memory log the actor host gets this very object): storedReads reaches the adapter.
    expect(isVersioned(runtime.log)).toBe(true);
    expect(isVersioned(raw)).toBe(false);
    expect(await runtime.plugin('log-probe').request<LogProbe>(0, {})).toEqual({ versioned: true, storedIsVersioned: false });
    const announced: EventEnvelope[] = [];
    const unsubscribe = runtime.subscribe((events) => announced.push(...events));
    const opened = await runtime.execute('account', 'v-1', { type: 'OpenWithDeposit', data: { owner: 'Ada', amount: 5 } });
    expect(opened.events.map((e) => [e.type, e.schemaVersion])).toEqual([['AccountOpened', undefined], ['Deposited', 2]]);
    // Past a page (EVENT_PAGE events), and a few more drains so the page gets written.
    const n = EVENT_PAGE + 8;
    for (let seq = 3; seq <= n; seq++) await runtime.execute('account', 'v-1', { type: 'Deposit', data: { amount: 1, currency: seq % 2 === 0 ? 'USD' : 'EUR' } });
    unsubscribe();
    const expected = [undefined, ...Array.from({ length: n - 1 }, () => 2)];
    expect(announced.map((e) => e.schemaVersion)).toEqual(expected);
    expect((await runtime.history('account', 'v-1', { limit: n })).map((e) => e.schemaVersion)).toEqual(expected);
    raw.refreshReads();
    expect(raw.readStream('account', 'v-1').map((e) => e.schemaVersion)).toEqual(expected);
    // The page holds the events as stored: a fold from it hands evolve the same versions.
    const foldVersions = () => {
      raw.refreshReads();
      const seen: (number | undefined)[] = [];
      const r = raw.foldStream('account', 'v-1', 1, n, 0, (count: number, _e, schemaVersion) => (seen.push(schemaVersion), count + 1));
      return { paged: r.paged, seen };
    };
    await expect.poll(() => foldVersions().paged).toBe(EVENT_PAGE);
    expect(foldVersions().seen).toEqual(expected);
    const balances = { EUR: 5 + (n - 2) / 2, USD: (n - 2) / 2 };
    expect((await runtime.load<CurrencyAccountState>('account', 'v-1', { version: n })).state.balances).toEqual(balances);
    expect((await runtime.load<CurrencyAccountState>('account', 'v-1')).state.balances).toEqual(balances);
  });
});
