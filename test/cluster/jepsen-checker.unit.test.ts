/**
 * The Jepsen-style suite's checker and history classification (test/cluster/support/), on made-up
 * histories: a clean run passes, and each kind of violation the e2e suite relies on it to find is found.
 */
import { describe, expect, it } from 'vitest';
import { checkRun, type AccountRead, type EventView, type PartitionSample, type RunObservations } from './support/jepsen-checker.js';
import { classify, History, outcomeOf, type Attempt, type Operation } from './support/jepsen-history.js';

const ok = (via: string, version: number, balance: number, duplicate = false): Attempt => ({ via, outcome: 'ok', status: 200, duplicate, version, balance });
const refused: Attempt = { via: 's1', outcome: 'failed', status: 503, error: 'NotOwner' };
const unknown: Attempt = { via: 's2', outcome: 'unknown', status: 0, error: 'TimeoutError' };

const event = (seq: number, offset: number, commandId: string | undefined, amount?: number): EventView => ({
  stream: 'a',
  type: amount === undefined ? 'AccountOpened' : 'Deposited',
  seq,
  partition: 0,
  offset,
  data: amount === undefined ? { owner: 'a' } : { amount },
  meta: commandId === undefined ? {} : { commandId },
});

/** Account `a`: opened, then deposits of 10 (ok), 5 (unknown, then ok as a duplicate), 7 (refused, then ok). */
function cleanRun(): { ops: Operation[]; events: EventView[] } {
  const ops: Operation[] = [
    { commandId: 'open', account: 'a', type: 'Open', amount: 0, attempts: [ok('s1', 1, 0)] },
    { commandId: 'd1', account: 'a', type: 'Deposit', amount: 10, attempts: [ok('s2', 2, 10)] },
    { commandId: 'd2', account: 'a', type: 'Deposit', amount: 5, attempts: [unknown, ok('s3', 3, 15, true)] },
    { commandId: 'd3', account: 'a', type: 'Deposit', amount: 7, attempts: [refused, ok('s1', 4, 22)] },
  ];
  const events = [event(1, 0, 'open'), event(2, 1, 'd1', 10), event(3, 2, 'd2', 5), event(4, 3, 'd3', 7)];
  return { ops, events };
}

function observations(ops: Operation[], events: EventView[], options: { read?: Partial<AccountRead>; other?: Partial<AccountRead>; samples?: PartitionSample[] } = {}): RunObservations {
  const balance = events.reduce((sum, e) => sum + (e.data.amount ?? 0), 0);
  const read: AccountRead = { version: events.length, balance, events, ...options.read };
  return {
    ops,
    accounts: ['a'],
    reads: new Map([
      ['s1', new Map([['a', read]])],
      ['s2', new Map([['a', { ...read, ...options.other }]])],
    ]),
    samples: options.samples ?? [],
  };
}

const sample = (via: string, at: number, partition: number, epoch: number, served = true): PartitionSample => ({ via, sentAt: at, answeredAt: at + 1, partitions: [{ partition, served, epoch, owner: via }] });

describe('the history', () => {
  it.each([
    [200, {}, 'ok'],
    [400, { error: 'InvalidCommand' }, 'failed'],
    [409, { error: 'VersionConflict' }, 'failed'],
    [503, { error: 'NotOwner' }, 'failed'],
    [503, { error: 'Overloaded' }, 'failed'],
    [503, { error: 'Unavailable', outcome: 'unknown' }, 'unknown'],
    [503, { error: 'Fenced' }, 'unknown'],
    [500, { error: 'Internal' }, 'unknown'],
    [0, undefined, 'unknown'],
  ] as const)('an answer %i %j is %s', (status, body, outcome) => {
    expect(classify(status, body)).toBe(outcome);
  });

  it('an operation is ok once any attempt was, else unknown once any attempt was, else failed; a commandId is used once', () => {
    const h = new History();
    const op = h.add({ commandId: 'x', account: 'a', type: 'Deposit', amount: 1 });
    op.attempts.push(refused);
    expect(outcomeOf(op)).toBe('failed');
    op.attempts.push(unknown);
    expect(outcomeOf(op)).toBe('unknown');
    op.attempts.push(ok('s1', 2, 1));
    expect(outcomeOf(op)).toBe('ok');
    expect(h.summary()).toEqual({ ops: { ok: 1, failed: 0, unknown: 0 }, attempts: { ok: 1, failed: 1, unknown: 1 }, notOk: { '503 NotOwner': 1, '0 TimeoutError': 1 } });
    expect(() => h.add({ commandId: 'x', account: 'a', type: 'Deposit', amount: 1 })).toThrow(/twice/);
  });
});

describe('the checker', () => {
  it('finds nothing wrong in a clean run', () => {
    const { ops, events } = cleanRun();
    expect(checkRun(observations(ops, events, { samples: [sample('s1', 0, 0, 1), sample('s2', 10, 0, 2), sample('s1', 20, 0, 3)] }))).toEqual([]);
  });

  it('finds an ok write that is missing (lost), and the balance that then disagrees with the deposits answered', () => {
    const { ops, events } = cleanRun();
    const lost = events.filter((e) => e.meta.commandId !== 'd3');
    expect(checkRun(observations(ops, lost))).toContainEqual(expect.stringContaining('d3 was answered ok but is not in the history (lost)'));
  });

  it('finds a write applied twice, and the gap or repeat it leaves in the offsets', () => {
    const { ops, events } = cleanRun();
    const doubled = [...events, { ...event(5, 3, 'd1', 10) }];
    const problems = checkRun(observations(ops, doubled));
    expect(problems).toContainEqual(expect.stringContaining('commandId d1 applied twice'));
    expect(problems).toContainEqual(expect.stringContaining('partition 0: offsets are not 0..4'));
  });

  it('finds a gap in the seqs, an invented event and an event with another amount than asked', () => {
    const { ops, events } = cleanRun();
    const bad = [events[0]!, { ...events[1]!, seq: 3 }, event(3, 2, 'nobody', 5), { ...events[3]!, seq: 4, data: { amount: 8 } }];
    const problems = checkRun(observations(ops, bad));
    expect(problems).toContainEqual(expect.stringContaining('event 1 has seq 3, expected 2'));
    expect(problems).toContainEqual(expect.stringContaining('commandId nobody, which no client sent'));
    expect(problems).toContainEqual(expect.stringContaining('d3 deposited 8, the client asked 7'));
  });

  it('finds a definite refusal that was applied after all', () => {
    const { ops, events } = cleanRun();
    ops[3]!.attempts = [refused, ok('s1', 4, 22, true)];
    expect(checkRun(observations(ops, events))).toContainEqual(expect.stringContaining("d3's first ok answer says duplicate"));
    ops[3]!.attempts = [refused];
    expect(checkRun(observations(ops, events))).toContainEqual(expect.stringContaining('d3 was only ever refused'));
  });

  it('finds an ok answer whose version or balance is not what the history says', () => {
    const { ops, events } = cleanRun();
    ops[1]!.attempts = [ok('s2', 3, 11)];
    const problems = checkRun(observations(ops, events));
    expect(problems).toContainEqual(expect.stringContaining('d1 was answered version 3, its event is seq 2'));
    expect(problems).toContainEqual(expect.stringContaining('d1 was answered balance 11'));
  });

  it('finds a state that is not the fold of the history, and servers that disagree', () => {
    const { ops, events } = cleanRun();
    const problems = checkRun(observations(ops, events, { read: { balance: 21 }, other: { version: 3 } }));
    expect(problems).toContainEqual(expect.stringContaining('state balance 21, the fold of the history is 22'));
    expect(problems).toContainEqual(expect.stringContaining('s2 answers another state or history than s1'));
  });

  it('finds two servers serving one partition in the same epoch, and a deposed owner serving after the next one did', () => {
    const { ops, events } = cleanRun();
    expect(checkRun(observations(ops, events, { samples: [sample('s1', 0, 0, 1), sample('s2', 10, 0, 1)] }))).toContainEqual('partition 0 epoch 1: served by s1 and s2');
    expect(checkRun(observations(ops, events, { samples: [sample('s1', 0, 0, 1), sample('s2', 10, 0, 2), sample('s1', 20, 0, 1)] }))).toContainEqual(
      expect.stringContaining('partition 0: s1 said it served epoch 1 (asked at 20 ms) after s2 had said it served epoch 2'),
    );
    // A request sent before the other's answer came may have been answered before it: not a violation.
    expect(checkRun(observations(ops, events, { samples: [sample('s2', 10, 0, 2), { ...sample('s1', 5, 0, 1), answeredAt: 30 }] }))).toEqual([]);
  });
});
