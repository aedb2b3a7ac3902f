/**
 * The time machine stays cheap on long streams (issue 4): a load as of any version starts from the
 * nearest persisted snapshot at or below it and folds only the tail, so it touches at most one snapshot
 * interval of events. Asserted on `runtime.counters.timeMachineFolded` (events folded by version/at
 * loads), never on time.
 *
 * With `snapshotThinning: n`, the newest ten snapshots are kept and, older than those, only every n-th
 * one (interval index a multiple of n): disk stays bounded and a load folds fewer than n x snapshotEvery.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { AccountState, Runtime } from '../../src/index.js';
import { freshReads } from '../support/projections-views.js';
import { useRuntimes } from '../support/runtimes.js';

/** Opens `id` and deposits 1 until the stream has `events` events, `chunk` commands in flight at a time. */
async function writeStream(runtime: Runtime, id: string, events: number, chunk: number): Promise<void> {
  await runtime.execute('account', id, { type: 'Open', data: { owner: id } });
  for (let written = 1; written < events; ) {
    const n = Math.min(chunk, events - written);
    await Promise.all(Array.from({ length: n }, () => runtime.execute('account', id, { type: 'Deposit', data: { amount: 1 } })));
    written += n;
  }
  await freshReads();
}

/** Opens `id` and deposits 1 until the stream has `events` events, one command (one commit) at a time. */
async function writeStreamOneByOne(runtime: Runtime, id: string, events: number): Promise<void> {
  await runtime.execute('account', id, { type: 'Open', data: { owner: id } });
  for (let v = 2; v <= events; v++) await runtime.execute('account', id, { type: 'Deposit', data: { amount: 1 } });
  await freshReads();
}

/** The state after v events of a stream written by `writeStream`: opened, then v - 1 deposits of 1. */
const stateAt = (owner: string, v: number): AccountState => ({ owner, balance: v - 1, open: true });

async function foldedBy(runtime: Runtime, id: string, options: { version?: number; at?: number }): Promise<{ folded: number; version: number; state: AccountState }> {
  const before = runtime.counters.timeMachineFolded;
  const r = await runtime.load<AccountState>('account', id, options);
  return { folded: runtime.counters.timeMachineFolded - before, version: r.version, state: r.state };
}

/** Snapshot versions the retention rule keeps: the newest ten, and older ones whose interval index is a multiple of n. */
function expectedRetained(written: number[], every: number, n: number): number[] {
  const newestFirst = [...written].sort((a, b) => b - a);
  return newestFirst.filter((v, i) => i < 10 || Math.floor(v / every) % n === 0);
}

/** Writing 100 000 events takes seconds on a busy 2-core box: a generous bound, never asserted on. */
const LONG = 180_000;

describe('time machine cost on a long stream', () => {
  const runtimes = useRuntimes('tm-bound');

  it('loads any version of a 100 000-event stream folding fewer events than one snapshot interval', async () => {
    const EVERY = 1000;
    const EVENTS = 100_000;
    const runtime = await runtimes.start({ durability: 'commit', snapshotEvery: EVERY, mailboxCapacity: 10_000 });
    await writeStream(runtime, 'long', EVENTS, 5000);
    expect(runtime.log.streamHead('account', 'long').version).toBe(EVENTS);

    // The counter does count: below the first snapshot, a load folds from seq 1.
    expect((await foldedBy(runtime, 'long', { version: EVERY - 1 })).folded).toBe(EVERY - 1);
    // At a snapshot, nothing is left to fold.
    expect((await foldedBy(runtime, 'long', { version: EVENTS })).folded).toBe(0);

    const versions = fc.sample(fc.integer({ min: 1, max: EVENTS }), { numRuns: 20, seed: 100_000 });
    for (const v of versions) {
      const byVersion = await foldedBy(runtime, 'long', { version: v });
      expect(byVersion.version).toBe(v);
      expect(byVersion.state).toEqual(stateAt('long', v));
      expect(byVersion.folded, `events folded to reach version ${v}`).toBeLessThan(EVERY);

      const ts = runtime.log.readEvent('account', 'long', v)!.ts;
      const byTime = await foldedBy(runtime, 'long', { at: ts });
      expect(byTime.version).toBe(runtime.log.versionAt('account', 'long', ts));
      expect(byTime.version).toBeGreaterThanOrEqual(v);
      expect(byTime.state).toEqual(stateAt('long', byTime.version));
      expect(byTime.folded, `events folded to reach the time of version ${v}`).toBeLessThan(EVERY);
    }
  }, LONG);

  it('with snapshotThinning n, loads fold fewer than n x snapshotEvery events, and fewer than snapshotEvery among the newest ten snapshots', async () => {
    const EVERY = 100;
    const N = 4;
    const EVENTS = 20_000;
    const runtime = await runtimes.start({ durability: 'commit', snapshotEvery: EVERY, snapshotThinning: N, mailboxCapacity: 10_000 });
    await writeStream(runtime, 'thin', EVENTS, 1000);
    const retained = runtime.log.snapshotVersions('account', 'thin');
    // The newest ten are kept.
    expect(retained.slice(0, 10)).toEqual(Array.from({ length: 10 }, (_, i) => EVENTS - i * EVERY));
    // Thinning did remove snapshots (the bound below is not met just by keeping all of them).
    expect(retained.length).toBeLessThan(EVENTS / EVERY);

    const tenthNewest = retained[9]!;
    const versions = [...fc.sample(fc.integer({ min: 1, max: EVENTS }), { numRuns: 200, seed: 20_000 }), N * EVERY - 1, tenthNewest, tenthNewest - 1, EVENTS];
    for (const v of versions) {
      const r = await foldedBy(runtime, 'thin', { version: v });
      expect(r.state).toEqual(stateAt('thin', v));
      expect(r.folded, `events folded to reach version ${v}`).toBeLessThan(N * EVERY);
      if (v >= tenthNewest) expect(r.folded, `events folded to reach recent version ${v}`).toBeLessThan(EVERY);
    }
  });

  it('keeps exactly the newest ten snapshots and every n-th older one when commands commit one at a time', async () => {
    const EVERY = 10;
    const N = 3;
    const EVENTS = 300;
    const runtime = await runtimes.start({ durability: 'commit', snapshotEvery: EVERY, snapshotThinning: N });
    await writeStreamOneByOne(runtime, 'thin-one', EVENTS);
    const written = Array.from({ length: EVENTS / EVERY }, (_, i) => (i + 1) * EVERY);
    expect(runtime.log.snapshotVersions('account', 'thin-one')).toEqual(expectedRetained(written, EVERY, N));
    for (let v = 1; v <= EVENTS; v++) expect((await foldedBy(runtime, 'thin-one', { version: v })).folded).toBeLessThan(N * EVERY);
  });

  // Regression test (bug found and fixed): thinning once examined the 10th newest *committed* snapshot. When one
  // drain crossed several snapshot boundaries of one stream (many queued commands for it), every crossing
  // examined that same snapshot; the others slipped out of the newest ten unexamined and were kept forever.
  // The rule now works by arithmetic alone (runtime/append-planner.ts).
  it('keeps exactly the newest ten snapshots and every n-th older one when many commands of a stream commit together', async () => {
    const EVERY = 10;
    const N = 3;
    const EVENTS = 3000;
    const runtime = await runtimes.start({ durability: 'commit', snapshotEvery: EVERY, snapshotThinning: N, mailboxCapacity: 10_000 });
    await writeStream(runtime, 'thin-batch', EVENTS, 500);
    const written = Array.from({ length: EVENTS / EVERY }, (_, i) => (i + 1) * EVERY);
    expect(runtime.log.snapshotVersions('account', 'thin-batch')).toEqual(expectedRetained(written, EVERY, N));
  });
});
