/**
 * DESIGN invariant 6: bad input never reaches the log. Each rejection path answers with its typed error
 * code, and nothing is written: partition heads, the runtime's partition map and the touched streams
 * are exactly as before, and the runtime keeps serving.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from '../../src/index.js';
import { outcomeOf, rejectionOf } from '../support/errors.js';
import { partitionHeads } from '../support/log-checks.js';
import { useRuntimes, useSharedRuntime, ON_DISK } from '../support/runtimes.js';

type Act = (rt: Runtime) => Promise<unknown>;
const exec = (id: string, command: unknown, options?: Record<string, unknown>): Act => (rt) =>
  rt.execute('account', id, command as { type: string; data?: unknown }, options);
const deposit = (amount: unknown) => ({ type: 'Deposit', data: { amount } });

/** `open-1` is an open account holding 100 at version 2; `never` was never written. */
const OPEN = 'open-1';

const table: Array<{ name: string; code: string; act: Act }> = [
  // ids outside [A-Za-z0-9_.:-]{1,128}
  { name: 'an id with a space and a bang', code: 'InvalidId', act: exec('bad id!', deposit(1)) },
  { name: 'an id with a slash', code: 'InvalidId', act: exec('../etc/passwd', deposit(1)) },
  { name: 'an id of 129 characters', code: 'InvalidId', act: exec('a'.repeat(129), { type: 'Open', data: { owner: 'x' } }) },
  { name: 'an empty id', code: 'InvalidId', act: exec('', { type: 'Open', data: { owner: 'x' } }) },
  { name: 'an id with a non-ASCII letter', code: 'InvalidId', act: exec('caf\u00e9', { type: 'Open', data: { owner: 'x' } }) },
  { name: 'an id with a NUL byte', code: 'InvalidId', act: exec('a\u0000b', { type: 'Open', data: { owner: 'x' } }) },
  { name: 'an id that is not a string', code: 'InvalidId', act: exec(42 as unknown as string, { type: 'Open', data: { owner: 'x' } }) },
  { name: 'a load by an invalid id', code: 'InvalidId', act: (rt) => rt.load('account', 'no way') },
  { name: 'a history by an invalid id', code: 'InvalidId', act: (rt) => rt.history('account', 'x'.repeat(129)) },
  // types
  { name: 'an unknown aggregate type', code: 'UnknownAggregateType', act: (rt) => rt.execute('ship', 's1', { type: 'Sail', data: {} }) },
  { name: 'an aggregate type named __proto__', code: 'UnknownAggregateType', act: (rt) => rt.execute('__proto__', 's1', { type: 'Open', data: {} }) },
  { name: 'a load of an unknown aggregate type', code: 'UnknownAggregateType', act: (rt) => rt.load('ship', 's1') },
  { name: 'an unknown command type', code: 'UnknownCommandType', act: exec(OPEN, { type: 'Close', data: {} }) },
  { name: 'a command type inherited from Object.prototype', code: 'UnknownCommandType', act: exec(OPEN, { type: 'toString', data: {} }) },
  // command schema
  { name: 'a negative amount', code: 'InvalidCommand', act: exec(OPEN, deposit(-5)) },
  { name: 'a zero amount', code: 'InvalidCommand', act: exec(OPEN, deposit(0)) },
  { name: 'a fractional amount', code: 'InvalidCommand', act: exec(OPEN, deposit(1.5)) },
  { name: 'an amount past MAX_SAFE_INTEGER', code: 'InvalidCommand', act: exec(OPEN, deposit(Number.MAX_SAFE_INTEGER + 2)) },
  { name: 'an amount given as a string', code: 'InvalidCommand', act: exec(OPEN, deposit('5')) },
  { name: 'a NaN amount', code: 'InvalidCommand', act: exec(OPEN, deposit(Number.NaN)) },
  { name: 'an infinite amount', code: 'InvalidCommand', act: exec(OPEN, deposit(Number.POSITIVE_INFINITY)) },
  { name: 'an extra property', code: 'InvalidCommand', act: exec(OPEN, { type: 'Deposit', data: { amount: 5, note: 'hi' } }) },
  { name: 'a missing field', code: 'InvalidCommand', act: exec(OPEN, { type: 'Deposit', data: {} }) },
  { name: 'no data at all', code: 'InvalidCommand', act: exec(OPEN, { type: 'Withdraw' }) },
  { name: 'data that is an array', code: 'InvalidCommand', act: exec(OPEN, { type: 'Deposit', data: [5] }) },
  { name: 'an empty owner', code: 'InvalidCommand', act: exec('fresh-1', { type: 'Open', data: { owner: '' } }) },
  { name: 'a command that is not an object', code: 'InvalidCommand', act: exec(OPEN, null) },
  { name: 'a command whose type is not a string', code: 'InvalidCommand', act: exec(OPEN, { type: 7, data: { amount: 1 } }) },
  { name: 'a negative expectedVersion', code: 'InvalidCommand', act: exec(OPEN, deposit(1), { expectedVersion: -1 }) },
  { name: 'a fractional expectedVersion', code: 'InvalidCommand', act: exec(OPEN, deposit(1), { expectedVersion: 1.5 }) },
  { name: 'an invalid commandId', code: 'InvalidCommand', act: exec(OPEN, deposit(1), { commandId: 'has space' }) },
  { name: 'an over-long correlationId', code: 'InvalidCommand', act: exec(OPEN, deposit(1), { correlationId: 'c'.repeat(129) }) },
  // domain rules
  { name: 'a deposit before Open', code: 'AccountNotOpen', act: exec('never', deposit(5)) },
  { name: 'a second Open', code: 'AccountAlreadyOpen', act: exec(OPEN, { type: 'Open', data: { owner: 'mallory' } }) },
  { name: 'an overdraft', code: 'InsufficientFunds', act: exec(OPEN, { type: 'Withdraw', data: { amount: 101 } }) },
  { name: 'a balance overflow', code: 'BalanceOverflow', act: exec(OPEN, deposit(Number.MAX_SAFE_INTEGER)) },
  { name: 'a stale expectedVersion', code: 'VersionConflict', act: exec(OPEN, deposit(1), { expectedVersion: 1 }) },
  { name: 'expectedVersion 0 on an existing stream', code: 'VersionConflict', act: exec(OPEN, deposit(1), { expectedVersion: 0 }) },
  // reads
  { name: 'a load of a stream never written', code: 'StreamNotFound', act: (rt) => rt.load('account', 'never') },
  { name: 'a load by version of a stream never written', code: 'StreamNotFound', act: (rt) => rt.load('account', 'never', { version: 1 }) },
  { name: 'a history of a stream never written', code: 'StreamNotFound', act: (rt) => rt.history('account', 'never') },
  { name: 'a load at version 0', code: 'InvalidQuery', act: (rt) => rt.load('account', OPEN, { version: 0 }) },
  { name: 'a load at a fractional version', code: 'InvalidQuery', act: (rt) => rt.load('account', OPEN, { version: 1.5 }) },
  { name: 'a load at a version past the head', code: 'NotFound', act: (rt) => rt.load('account', OPEN, { version: 3 }) },
  { name: 'a load at an unparseable time', code: 'InvalidQuery', act: (rt) => rt.load('account', OPEN, { at: 'yesterday-ish' }) },
  { name: 'a load at an invalid Date', code: 'InvalidQuery', act: (rt) => rt.load('account', OPEN, { at: new Date(Number.NaN) }) },
  { name: 'a load at a time before the first event', code: 'NotFound', act: (rt) => rt.load('account', OPEN, { at: 0 }) },
  { name: 'a history from seq 0', code: 'InvalidQuery', act: (rt) => rt.history('account', OPEN, { from: 0 }) },
  { name: 'a history page of 0 events', code: 'InvalidQuery', act: (rt) => rt.history('account', OPEN, { limit: 0 }) },
  { name: 'a history page past the maximum', code: 'InvalidQuery', act: (rt) => rt.history('account', OPEN, { limit: 10_001 }) },
];

describe('bad input', () => {
  const runtime = useSharedRuntime({}, 'bad-input');
  let before: { heads: number[]; map: ReturnType<Runtime['partitions']>; history: unknown };

  beforeAll(async () => {
    const rt = runtime();
    await rt.execute('account', OPEN, { type: 'Open', data: { owner: 'ann' } });
    await rt.execute('account', OPEN, deposit(100));
    before = { heads: partitionHeads(rt.log), map: rt.partitions(), history: await rt.history('account', OPEN) };
  });

  it.each(table)('rejects $name with $code and writes nothing', async ({ code, act }) => {
    const rt = runtime();
    const err = await rejectionOf(act(rt));
    expect(err.code, err.message).toBe(code);
    expect(partitionHeads(rt.log)).toEqual(before.heads);
    expect(rt.partitions()).toEqual(before.map);
    expect(await rt.history('account', OPEN)).toEqual(before.history);
    expect(rt.log.streamHead('account', 'never').version).toBe(0);
  });

  it('names the expected and the actual version in a VersionConflict', async () => {
    const err = await rejectionOf(runtime().execute('account', OPEN, deposit(1), { expectedVersion: 1 }));
    expect(err.details).toEqual({ expected: 1, actual: 2 });
  });

  it('lists the known command types when the command type is unknown', async () => {
    const err = await rejectionOf(runtime().execute('account', OPEN, { type: 'Close', data: {} }));
    expect(err.details).toEqual({ known: ['Open', 'Deposit', 'Withdraw'] });
  });

  it('still accepts good input afterwards, including an id of exactly 128 allowed characters', async () => {
    const rt = runtime();
    const id = 'A-z_0.9:'.repeat(16);
    expect(id).toHaveLength(128);
    expect((await rt.execute('account', id, { type: 'Open', data: { owner: 'max' } })).version).toBe(1);
    expect((await rt.execute('account', OPEN, deposit(1), { expectedVersion: 2 })).version).toBe(3);
    expect(rt.health()).toEqual({ ok: true, reasons: [] });
  });
});

describe('overload', () => {
  const runtimes = useRuntimes('overload');

  /** Sends the commands in one event-loop turn (one batch to the worker) and returns their outcomes, in order. */
  async function burst(rt: Runtime, id: string, commands: Array<{ type: string; data: unknown }>): Promise<string[]> {
    return (await Promise.allSettled(commands.map((c) => rt.execute('account', id, c)))).map(outcomeOf);
  }

  it('rejects commands past a full mailbox with the retriable Overloaded, and writes only the accepted ones', async () => {
    const rt = await runtimes.start({ workers: 1, mailboxCapacity: 1 });
    await rt.execute('account', 'busy', { type: 'Open', data: { owner: 'ann' } });
    const heads = partitionHeads(rt.log);
    const settled = await Promise.allSettled(Array.from({ length: 6 }, () => rt.execute('account', 'busy', deposit(1))));
    expect(settled.map(outcomeOf)).toEqual(['ok', 'Overloaded', 'Overloaded', 'Overloaded', 'Overloaded', 'Overloaded']);
    const rejected = settled[1] as PromiseRejectedResult;
    expect(rejected.reason).toMatchObject({ retriable: true, details: { retryAfterMs: expect.any(Number) } });
    expect((await rt.load<{ balance: number }>('account', 'busy')).state.balance).toBe(1);
    expect(partitionHeads(rt.log).reduce((a, b) => a + b)).toBe(heads.reduce((a, b) => a + b) + 1);
  });

  it('bounds the mailbox of an aggregate that is not in memory yet just the same', async () => {
    const rt = await runtimes.start({ workers: 1, mailboxCapacity: 2 });
    const outcomes = await burst(rt, 'cold', [{ type: 'Open', data: { owner: 'ann' } }, ...Array.from({ length: 5 }, () => deposit(1))]);
    expect(outcomes).toEqual(['ok', 'ok', 'Overloaded', 'Overloaded', 'Overloaded', 'Overloaded']);
    expect((await rt.history('account', 'cold')).length).toBe(2);
  });

  it('rejects commands past the per-worker in-flight bound with Overloaded, writing nothing for them', async () => {
    const rt = await runtimes.start({ workers: 1, maxInFlightPerWorker: 1 });
    await rt.execute('account', 'w', { type: 'Open', data: { owner: 'ann' } });
    const outcomes = await burst(rt, 'w', Array.from({ length: 4 }, () => deposit(1)));
    expect(outcomes).toEqual(['ok', 'Overloaded', 'Overloaded', 'Overloaded']);
    expect((await rt.history('account', 'w')).length).toBe(2);
  });

  it.runIf(ON_DISK)('finishes the commands already sent when it is closed, and each acknowledged one is in the log', async () => {
    const dataDir = await runtimes.dataDir();
    const rt = await runtimes.start({ dataDir, workers: 1 });
    await rt.execute('account', 'closing', { type: 'Open', data: { owner: 'ann' } });
    const inFlight = Array.from({ length: 200 }, () => rt.execute('account', 'closing', deposit(1)));
    await runtimes.close(rt);
    const outcomes = (await Promise.allSettled(inFlight)).map(outcomeOf);
    expect(new Set(outcomes)).toEqual(new Set(['ok']));
    const again = await runtimes.start({ dataDir, workers: 1 });
    expect((await again.load<{ balance: number }>('account', 'closing')).state.balance).toBe(200);
  });

  it('refuses every call once closed, with the retriable RuntimeClosed', async () => {
    const rt = await runtimes.start({ workers: 1 });
    await rt.execute('account', 'c', { type: 'Open', data: { owner: 'ann' } });
    await runtimes.close(rt);
    for (const act of [exec('c', deposit(1)), (r: Runtime) => r.load('account', 'c'), (r: Runtime) => r.history('account', 'c')]) {
      const err = await rejectionOf(act(rt));
      expect(err.code).toBe('RuntimeClosed');
      expect(err.retriable).toBe(true);
    }
    expect(rt.health()).toEqual({ ok: false, reasons: [{ kind: 'closed', message: 'closed' }] });
  });
});
