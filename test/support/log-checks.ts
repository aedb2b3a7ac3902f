/**
 * Whole-log checks shared by the runtime suites: partition offsets are contiguous 0..n-1 and each entry
 * points at a stored event whose envelope names that very position; streams have seq 1..n with no gap.
 */
import { expect } from 'vitest';
import { accountDecider, type AccountState, type EventEnvelope, type LogReader, type Runtime } from '../../src/index.js';

/** Every partition's head (next offset), read from the log itself. */
export function partitionHeads(log: LogReader): number[] {
  return Array.from({ length: log.partitions }, (_, p) => log.partitionHead(p));
}

/**
 * Walks every partition: offsets 0..n-1 with no gap, each entry resolving to an event stored at that
 * partition and offset. Returns all events by partition.
 */
export function expectContiguousPartitions(log: LogReader): EventEnvelope[][] {
  const out: EventEnvelope[][] = [];
  for (let p = 0; p < log.partitions; p++) {
    const events = [...log.iteratePartition(p)];
    expect(
      events.map((e) => e.offset),
      `partition ${p} offsets`,
    ).toEqual(events.map((_, i) => i));
    for (const e of events) expect(e.partition, `partition of ${e.stream}#${e.seq}`).toBe(p);
    expect(log.partitionHead(p)).toBe(events.length);
    out.push(events);
  }
  return out;
}

/** seq is 1, 2, 3, ... with no gap. */
export function expectContiguousSeqs(events: readonly EventEnvelope[], what = 'stream'): void {
  expect(
    events.map((e) => e.seq),
    `${what} seqs`,
  ).toEqual(events.map((_, i) => i + 1));
}

/** The full fold of an account stream with the decider's own evolve. */
export function foldAccount(events: readonly EventEnvelope[]): AccountState {
  return events.reduce<AccountState>((s, e) => accountDecider.evolve(s, e as never), accountDecider.initialState());
}

/** Every event of a stream, read through the runtime's public history (paged). */
export async function fullHistory(runtime: Runtime, aggregateType: string, id: string): Promise<EventEnvelope[]> {
  const out: EventEnvelope[] = [];
  for (;;) {
    const page = await runtime.history(aggregateType, id, { from: out.length + 1, limit: 10_000 });
    out.push(...page);
    if (page.length < 10_000) return out;
  }
}

/** Every stream of one aggregate type and its events, read straight from the log. */
export function allStreams(log: LogReader, aggregateType: string): Map<string, EventEnvelope[]> {
  const out = new Map<string, EventEnvelope[]>();
  for (const id of log.iterateStreamIds(aggregateType)) out.set(id, [...log.iterateStream(aggregateType, id)]);
  return out;
}
