/**
 * Loads on the calling thread (runtime/log-loads.ts): a plain `load` that misses the state cache reads the
 * stream from the log on the caller's thread, and answers exactly what the owning worker answers
 * (`coldLoads: 'owner'`, the path before), for any command sequence; it sees every command acknowledged
 * before it (read-your-writes), never a command still in flight (the owner answers while the stream's
 * newest event is not acknowledged), reads upcast streams at the decider's current version, and answers
 * unknown ids as before. Runs on LMDB and, in the `memory` project, on the memory log, whose actor hosts
 * run on the main thread itself.
 */
import { cpSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RuntimeError, createRuntime, storedReads, type AccountState, type Runtime } from '../../src/index.js';
import { MAX_FOLD } from '../../src/runtime/log-loads.js';
import { accountCurrencyDomain, type CurrencyAccountState } from '../support/account-currency-domain.js';
import { outcomeOf, rejectionOf } from '../support/errors.js';
import { foldAccount, fullHistory } from '../support/log-checks.js';
import { ON_DISK, useRuntimes } from '../support/runtimes.js';

type Loaded = { version: number; state: unknown } | { code: string };

/** A load's answer, or the code it failed with: what two paths must agree on. */
async function loadOutcome(rt: Runtime, type: string, id: string): Promise<Loaded> {
  try {
    const { version, state } = await rt.load(type, id);
    return { version, state };
  } catch (err) {
    return { code: RuntimeError.is(err) ? err.code : String(err) };
  }
}

const IDS = ['a', 'b', 'c', 'd', 'never'] as const;
type AccountCommand = { type: 'Open'; data: { owner: string } } | { type: 'Deposit' | 'Withdraw'; data: { amount: number } };
interface Step {
  id: (typeof IDS)[number];
  command: AccountCommand;
  commandId: string | null;
}
const stepArb: fc.Arbitrary<Step> = fc.record({
  // 'never' is never written to: loads of it are StreamNotFound on both paths.
  id: fc.constantFrom('a', 'b', 'c', 'd'),
  command: fc.oneof(
    { arbitrary: fc.record({ type: fc.constant('Open' as const), data: fc.record({ owner: fc.string({ minLength: 1, maxLength: 8 }) }) }), weight: 2 },
    { arbitrary: fc.record({ type: fc.constant('Deposit' as const), data: fc.record({ amount: fc.integer({ min: 1, max: 300 }) }) }), weight: 5 },
    { arbitrary: fc.record({ type: fc.constant('Withdraw' as const), data: fc.record({ amount: fc.integer({ min: 1, max: 300 }) }) }), weight: 4 },
  ),
  // A small pool of idempotency keys: retries (same command) and reused keys (another command) happen.
  commandId: fc.option(fc.constantFrom('k1', 'k2', 'k3'), { freq: 3 }),
});
/** Bursts of commands, each sent in one event-loop turn. */
const scenarioArb = fc.array(fc.array(stepArb, { minLength: 1, maxLength: 10 }), { minLength: 1, maxLength: 6 });

describe('loads on the calling thread', () => {
  const runtimes = useRuntimes('log-loads');
  // Every load misses the cache; snapshots every 3 events and one live actor per worker make both paths
  // fold snapshot + tail (the owner after passivation), not only answer a live state.
  const everyLoadMisses = { stateCacheSize: 0, snapshotEvery: 3, maxLiveActors: 2 } as const;

  it('answer what the owning worker answers, for any command sequence (state, version, or the error)', async () => {
    const fromLog = await runtimes.start({ ...everyLoadMisses, coldLoads: 'log' });
    const fromOwner = await runtimes.start({ ...everyLoadMisses, coldLoads: 'owner' });
    let run = 0;
    await fc.assert(
      fc.asyncProperty(scenarioArb, async (bursts) => {
        // Each run on ids of its own: the two runtimes are shared by every run.
        const prefix = `r${run++}-`;
        for (const burst of bursts) {
          const send = (rt: Runtime) =>
            Promise.allSettled(burst.map((s) => rt.execute('account', prefix + s.id, s.command, s.commandId === null ? {} : { commandId: s.commandId })));
          const [viaLog, viaOwner] = [await send(fromLog), await send(fromOwner)];
          expect(viaLog.map(outcomeOf)).toEqual(viaOwner.map(outcomeOf));
          const asked = fromLog.counters.ownerLoads;
          for (const id of IDS) {
            const [a, b] = [await loadOutcome(fromLog, 'account', prefix + id), await loadOutcome(fromOwner, 'account', prefix + id)];
            expect(a, `${prefix}${id}`).toEqual(b);
            if ('version' in a) expect(a.state).toEqual(foldAccount(await fullHistory(fromLog, 'account', prefix + id)));
          }
          // Nothing in flight, every partition steady: no load needed its owner.
          expect(fromLog.counters.ownerLoads).toBe(asked);
        }
      }),
      { numRuns: 12, endOnFailure: true },
    );
    expect(fromOwner.counters.ownerLoads).toBeGreaterThan(0);
  }, 240_000);

  it('see every command acknowledged before them, and never one still in flight, under concurrent commands', async () => {
    const rt = await runtimes.start({ stateCacheSize: 0 });
    const ids = ['w0', 'w1', 'w2', 'w3'];
    await Promise.all(ids.map((id) => rt.execute('account', id, { type: 'Open', data: { owner: id } })));
    const acked = new Map<string, number>(ids.map((id) => [id, 1]));
    const checks: Array<Promise<void>> = [];
    /** A load issued now sees at least what is acknowledged now, and at most what is acknowledged when it answers. */
    const check = (id: string): void => {
      const floor = acked.get(id)!;
      checks.push(
        rt.load<AccountState>('account', id).then((l) => {
          expect(l.version, `${id}: load issued after version ${floor} was acknowledged`).toBeGreaterThanOrEqual(floor);
          expect(l.version, `${id}: a command not acknowledged yet is visible`).toBeLessThanOrEqual(acked.get(id)!);
          expect(l.state.balance).toBe(l.version - 1); // every deposit is 1
        }),
      );
      // The other reads on this thread promise the same: history and the time machine.
      checks.push(
        rt.history('account', id, { from: floor, limit: 1 }).then((page) => expect(page.map((e) => e.seq)).toEqual([floor])),
        rt.load<AccountState>('account', id, { version: floor }).then((l) => expect(l.state.balance).toBe(floor - 1)),
      );
    };
    const commands: Array<Promise<unknown>> = [];
    for (let i = 0; i < 400; i++) {
      const id = ids[i % ids.length]!;
      commands.push(
        rt.execute('account', id, { type: 'Deposit', data: { amount: 1 } }).then((r) => {
          acked.set(id, Math.max(acked.get(id)!, r.version));
          check(id); // right after the acknowledgement: the hardest case for read-your-writes
          check(ids[(i + 1) % ids.length]!); // another stream, maybe with a command in flight
        }),
      );
      if (i % 40 === 0) {
        check(id); // in flight with the commands
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
    await Promise.all(commands);
    await Promise.all(checks);
    for (const id of ids) expect(await rt.load('account', id)).toMatchObject({ version: acked.get(id), state: { balance: acked.get(id)! - 1 } });
  });

  it('leave a command whose events are in the log but not yet acknowledged to the owner, which answers as before', async () => {
    const rt = await runtimes.start({ stateCacheSize: 0 });
    await rt.execute('account', 'inflight', { type: 'Open', data: { owner: 'x' } });
    const logHead = () => (rt.log.refreshReads(), rt.log.streamHead('account', 'inflight').version);
    // Caught when the command's commit is visible before its acknowledgement reached this thread: always
    // on the memory log (the reply is a later turn), nearly always on LMDB (the flush comes in between).
    let caught = 0;
    for (let attempt = 0; attempt < 20 && caught < 3; attempt++) {
      let acknowledged = 0;
      const before = (await rt.load('account', 'inflight')).version;
      const pending = rt.execute('account', 'inflight', { type: 'Deposit', data: { amount: 1 } }).then((r) => (acknowledged = r.version));
      while (logHead() === before && acknowledged === 0) await new Promise((resolve) => setImmediate(resolve));
      if (acknowledged !== 0) {
        await pending;
        continue; // the acknowledgement came first this time
      }
      caught++;
      const asked = rt.counters.ownerLoads;
      const loading = rt.load('account', 'inflight');
      expect(rt.counters.ownerLoads - asked, 'the owner answers while the head is not acknowledged').toBe(1);
      const loaded = await loading;
      // What the owner answered is acknowledged by the time it arrives (its reply came before the answer).
      expect(loaded.version).toBeGreaterThanOrEqual(before);
      expect(loaded.version).toBeLessThanOrEqual(Math.max(before, acknowledged));
      await pending;
      const after = rt.counters.ownerLoads;
      expect((await rt.load('account', 'inflight')).version).toBe(before + 1);
      expect(rt.counters.ownerLoads, 'once acknowledged, read from the log').toBe(after);
    }
    expect(caught).toBeGreaterThan(0);
  });

  it('answer unknown streams, unknown types and bad ids as before, without asking a worker', async () => {
    const rt = await runtimes.start({ stateCacheSize: 0 });
    const owner = await runtimes.start({ stateCacheSize: 0, coldLoads: 'owner' });
    for (const [type, id] of [['account', 'nobody'], ['no-such-type', 'x'], ['account', 'bad id!'], ['account', '']] as const) {
      const [a, b] = [await rejectionOf(rt.load(type, id)), await rejectionOf(owner.load(type, id))];
      expect([a.code, a.message]).toEqual([b.code, b.message]);
    }
    expect((await rejectionOf(rt.load('account', 'nobody'))).code).toBe('StreamNotFound');
    expect(rt.counters.ownerLoads).toBe(0);
  });

  it(`leave a stream with more than ${MAX_FOLD} events to fold to its owner, off the calling thread`, async () => {
    const rt = await runtimes.start({ stateCacheSize: 0, snapshotEvery: 0 });
    const long = MAX_FOLD + 20;
    await rt.execute('account', 'long', { type: 'Open', data: { owner: 'l' } });
    await Promise.all(Array.from({ length: long - 1 }, () => rt.execute('account', 'long', { type: 'Deposit', data: { amount: 2 } })));
    await rt.execute('account', 'short', { type: 'Open', data: { owner: 's' } });
    const asked = rt.counters.ownerLoads;
    expect(await rt.load('account', 'long')).toEqual({ id: 'long', type: 'account', version: long, state: { owner: 'l', balance: 2 * (long - 1), open: true } });
    expect(rt.counters.ownerLoads - asked).toBe(1);
    expect(await rt.load('account', 'short')).toMatchObject({ version: 1 });
    expect(rt.counters.ownerLoads - asked).toBe(1);
  });

  it('read the memory log on the main thread, where its actor hosts run too', async () => {
    const rt = await createRuntime({ log: 'memory', partitions: 4, workers: 2, stateCacheSize: 0, snapshotEvery: 2 });
    try {
      await rt.execute('account', 'm', { type: 'Open', data: { owner: 'mem' } });
      let last = await rt.execute<AccountState>('account', 'm', { type: 'Deposit', data: { amount: 3 } });
      for (let i = 0; i < 4; i++) {
        expect(await rt.load('account', 'm')).toEqual({ id: 'm', type: 'account', version: last.version, state: last.state });
        last = await rt.execute<AccountState>('account', 'm', { type: 'Deposit', data: { amount: 1 } });
      }
      expect(rt.counters.ownerLoads).toBe(0);
    } finally {
      await rt.close();
    }
  });

  it('rejects a coldLoads option that is neither log nor owner', async () => {
    expect((await rejectionOf(runtimes.start({ coldLoads: 'worker' as never }))).code).toBe('InvalidOptions');
  });

  it.runIf(ON_DISK)('read streams written at an older event version upcast, as the owner does, and have the owner renew a snapshot of an old shape', async () => {
    // Written by the built-in account decider (Deposited v1, state without currencies)...
    const dataDir = await runtimes.dataDir();
    const old = await runtimes.start({ dataDir, snapshotEvery: 10 });
    const lengths = { short: 4, tail: 15, long: 70 };
    for (const [id, events] of Object.entries(lengths)) {
      await old.execute('account', id, { type: 'Open', data: { owner: id } });
      for (let i = 1; i < events; i++) await old.execute('account', id, { type: 'Deposit', data: { amount: i } });
    }
    await runtimes.close(old);
    // ... read by the currency decider (Deposited v2, upcast to euros; snapshotVersion 2), on two copies.
    const copy = await runtimes.dataDir();
    cpSync(dataDir, copy, { recursive: true });
    const v2 = { domains: [accountCurrencyDomain], stateCacheSize: 0, snapshotEvery: 10 };
    const rt = await runtimes.start({ ...v2, dataDir });
    const owner = await runtimes.start({ ...v2, dataDir: copy, coldLoads: 'owner' });
    const sum = (n: number) => (n * (n - 1)) / 2;
    for (const [id, events] of Object.entries(lengths)) {
      const loaded = await rt.load<CurrencyAccountState>('account', id);
      expect(loaded).toEqual({ id, type: 'account', version: events, state: { owner: id, open: true, balances: events > 1 ? { EUR: sum(events) } : {} } });
      expect(loaded).toEqual(await owner.load('account', id));
    }
    expect(rt.counters.ownerLoads).toBe(0);
    // The load folded past the old-shape snapshot; the owner was asked to load it too, and persisted one
    // of the current shape, as a cold load in the worker always did.
    const stored = storedReads(rt.log);
    await expect.poll(() => (stored.refreshReads(), stored.snapshotAtOrBelow('account', 'long')?.snapshotVersion)).toBe(2);
    // New deposits are stored at version 2; old and new read together the same on both paths.
    for (const target of [rt, owner]) await target.execute('account', 'tail', { type: 'Deposit', data: { amount: 5, currency: 'USD' } });
    expect(await rt.load('account', 'tail')).toEqual(await owner.load('account', 'tail'));
    expect((await rt.load<CurrencyAccountState>('account', 'tail')).state.balances).toEqual({ EUR: sum(15), USD: 5 });
  });
});
