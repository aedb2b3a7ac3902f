/**
 * DESIGN invariant 4 (hydration is deterministic) and invariant 1 (seq 1..n, no gap), as a property:
 *
 *   For any sequence of Open/Deposit/Withdraw commands (valid and invalid) over several accounts, sent in
 *   concurrent bursts, every command gets the outcome a sequential model predicts for its account, and
 *   for every account the live state (runtime.load) == the full fold of runtime.history == the state
 *   hydrated from the newest persisted snapshot + tail, in the worker after passivation and from disk
 *   after close; a restart with another worker count loads the same states;
 *   every prefix version loads as the fold of that prefix; seq is contiguous, ts never decreases, and
 *   no prefix of the stream has a negative balance.
 *
 * Each run uses a real data dir and real worker threads, so runs are few; snapshotEvery 3 and one live
 * actor per worker force snapshot + tail hydration (LRU passivation) in the middle of every run.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { accountDecider, LmdbLog, hydrate, versionedLog, RuntimeError, type AccountState, type Runtime } from '../../src/index.js';
import { outcomeOf, rejectionOf } from '../support/errors.js';
import { expectContiguousPartitions, expectContiguousSeqs, foldAccount, fullHistory } from '../support/log-checks.js';
import { useRuntimes, ON_DISK } from '../support/runtimes.js';

const IDS = ['acct-a', 'acct-b', 'acct-c', 'acct-d'] as const;
type Id = (typeof IDS)[number];
type AccountCommand = { type: 'Open'; data: { owner: string } } | { type: 'Deposit' | 'Withdraw'; data: { amount: number } };
interface Step {
  id: Id;
  command: AccountCommand;
}

const amountArb = fc.oneof(
  { arbitrary: fc.integer({ min: 1, max: 400 }), weight: 10 },
  // invalid amounts: the schema must reject them before the decider sees them
  { arbitrary: fc.constantFrom(0, -7, 2.5, Number.MAX_SAFE_INTEGER + 2), weight: 1 },
);
const stepArb: fc.Arbitrary<Step> = fc.record({
  id: fc.constantFrom(...IDS),
  command: fc.oneof(
    { arbitrary: fc.record({ type: fc.constant('Open' as const), data: fc.record({ owner: fc.string({ minLength: 1, maxLength: 12 }) }) }), weight: 2 },
    { arbitrary: fc.record({ type: fc.constant('Deposit' as const), data: fc.record({ amount: amountArb }) }), weight: 5 },
    { arbitrary: fc.record({ type: fc.constant('Withdraw' as const), data: fc.record({ amount: amountArb }) }), weight: 4 },
  ),
});
/** Bursts of commands: each burst is sent in one event-loop turn, bursts one after another. */
const scenarioArb = fc.array(fc.array(stepArb, { minLength: 1, maxLength: 12 }), { minLength: 1, maxLength: 6 });

/** The sequential model of one account: the outcome a command must get, and the state after it. */
class AccountModel {
  state: AccountState = accountDecider.initialState();
  version = 0;

  apply(command: AccountCommand): string {
    if (command.type !== 'Open' && !(Number.isSafeInteger(command.data.amount) && command.data.amount >= 1)) return 'InvalidCommand';
    if (command.type === 'Open') {
      if (this.state.open) return 'AccountAlreadyOpen';
      this.state = { owner: command.data.owner, balance: 0, open: true };
    } else if (!this.state.open) return 'AccountNotOpen';
    else if (command.type === 'Withdraw') {
      if (command.data.amount > this.state.balance) return 'InsufficientFunds';
      this.state = { ...this.state, balance: this.state.balance - command.data.amount };
    } else this.state = { ...this.state, balance: this.state.balance + command.data.amount };
    this.version++;
    return 'ok';
  }
}

async function runScenario(rt: Runtime, bursts: Step[][]): Promise<Map<Id, AccountModel>> {
  const models = new Map<Id, AccountModel>(IDS.map((id) => [id, new AccountModel()]));
  for (const burst of bursts) {
    const settled = await Promise.allSettled(burst.map((s) => rt.execute<AccountState>('account', s.id, s.command)));
    burst.forEach((step, i) => {
      const model = models.get(step.id)!;
      const expected = model.apply(step.command);
      const got = settled[i]!;
      expect(outcomeOf(got), `${step.id} ${JSON.stringify(step.command)}`).toBe(expected);
      if (got.status === 'fulfilled') {
        expect(got.value.version).toBe(model.version);
        expect(got.value.state).toEqual(model.state);
      }
    });
  }
  return models;
}

describe('hydration', () => {
  const runtimes = useRuntimes('hydration');

  it.runIf(ON_DISK)('agrees for any command sequence: live state, full fold, snapshot + tail, every prefix version, and a cold read from disk', async () => {
    await fc.assert(
      fc.asyncProperty(scenarioArb, async (bursts) => {
        const dataDir = await runtimes.dataDir();
        const rt = await runtimes.start({ dataDir, snapshotEvery: 3, maxLiveActors: 2 });
        const models = await runScenario(rt, bursts);
        const folded = new Map<Id, AccountState>();

        for (const id of IDS) {
          const model = models.get(id)!;
          if (model.version === 0) {
            expect((await rejectionOf(rt.load('account', id))).code).toBe('StreamNotFound');
            continue;
          }
          const history = await fullHistory(rt, 'account', id);
          expectContiguousSeqs(history, id);
          const state = foldAccount(history);
          folded.set(id, state);
          expect(state).toEqual(model.state);
          expect((await rt.load('account', id)).state).toEqual(state);
          expect(hydrate(rt.log, accountDecider, 'account', id).state).toEqual(state);
          for (let v = 1; v <= history.length; v++) {
            const prefix = foldAccount(history.slice(0, v));
            expect(prefix.balance).toBeGreaterThanOrEqual(0);
            expect(await rt.load('account', id, { version: v })).toEqual({ id, type: 'account', version: v, state: prefix });
            expect(history[v - 1]!.ts).toBeGreaterThanOrEqual(v > 1 ? history[v - 2]!.ts : 0);
          }
          const lastTs = history[history.length - 1]!.ts;
          expect((await rt.load('account', id, { at: lastTs })).state).toEqual(state);
        }
        const byPartition = expectContiguousPartitions(rt.log);
        expect(rt.partitions().map((p) => p.offset)).toEqual(byPartition.map((events) => events.length));
        await runtimes.close(rt);

        // Cold, from disk: a fresh log handle on the closed data dir hydrates from the persisted
        // snapshots + tails (the worker's own cold path is exercised above by LRU passivation).
        // As every thread of the runtime reads it: personal fields (the owner) opened.
        const log = versionedLog(LmdbLog.open(dataDir), [accountDecider]);
        try {
          for (const [id, state] of folded) {
            const version = models.get(id)!.version;
            const snap = log.snapshotAtOrBelow<AccountState>('account', id);
            if (version >= 3) {
              expect(snap, `${id} has a persisted snapshot`).toBeDefined();
              expect(snap!.state).toEqual(foldAccount(log.readStream('account', id, 1, snap!.version)));
            }
            const cold = hydrate(log, accountDecider, 'account', id);
            expect(cold).toMatchObject({ version, state, staleSnapshot: false });
            if (version >= 3) expect(cold.fromSnapshot).toBeGreaterThan(0);
          }
        } finally {
          await log.close();
        }
      }),
      // Every run starts worker threads; failing fast (no shrinking) keeps a red run short. The seed in
      // the failure message replays it.
      { numRuns: 15, endOnFailure: true },
    );
  }, 240_000);

  it.runIf(ON_DISK)('loads every account as the fold of its history after a restart with another worker count', async () => {
    const [bursts] = fc.sample(scenarioArb, { numRuns: 1, seed: 20_251_125 });
    const dataDir = await runtimes.dataDir();
    const rt = await runtimes.start({ dataDir, snapshotEvery: 3 });
    // Twice the scenario, so the streams are long enough to have snapshots and tails.
    const models = await runScenario(rt, [...bursts!, ...bursts!]);
    await runtimes.close(rt);
    const cold = await runtimes.start({ dataDir, workers: 1, snapshotEvery: 3 });
    for (const [id, model] of models) {
      if (model.version === 0) continue;
      const history = await fullHistory(cold, 'account', id);
      expect(foldAccount(history)).toEqual(model.state);
      expect(await cold.load('account', id)).toEqual({ id, type: 'account', version: model.version, state: model.state });
    }
    expect(cold.partitions().map((p) => p.worker)).toEqual(cold.partitions().map(() => 0));
  });

  it('checks the command schema before the state: an invalid Withdraw on an unopened account is InvalidCommand', async () => {
    const rt = await runtimes.start();
    const err = await rejectionOf(rt.execute('account', 'never-opened', { type: 'Withdraw', data: { amount: -1 } }));
    expect(err.code).toBe('InvalidCommand');
    expect(RuntimeError.is(await rejectionOf(rt.execute('account', 'never-opened', { type: 'Withdraw', data: { amount: 1 } })), 'AccountNotOpen')).toBe(true);
  });
});
