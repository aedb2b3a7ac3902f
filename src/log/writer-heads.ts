/**
 * What every adapter's batch writer shares (port.ts, "Who assigns positions"): the heads of the
 * partitions it owns, the envelopes of one append positioned from them, and the heads a committed
 * batch moved. One copy, so the three adapters cannot drift apart on how positions are assigned.
 */
import { ErrorCodes, RuntimeError, type EventEnvelope } from '../kernel/index.js';
import type { AppendRequest, Staged } from './port.js';

/** The next offset of each owned partition, as this writer knows it (counting what it staged). */
export class WriterHeads {
  readonly #heads = new Map<number, number>();
  readonly #read: (partition: number) => number;

  /** `read`: the partition's head as the log holds it (at the start, and on `reload`). */
  constructor(partitions: readonly number[], read: (partition: number) => number) {
    this.#read = read;
    for (const p of partitions) this.#heads.set(p, read(p));
  }

  head(partition: number): number {
    const head = this.#heads.get(partition);
    if (head === undefined) throw new RuntimeError(ErrorCodes.Internal, `this writer does not own partition ${partition}`);
    return head;
  }

  /** Reads an owned partition's head from the log again. */
  reload(partition: number): number {
    this.head(partition);
    const head = this.#read(partition);
    this.#heads.set(partition, head);
    return head;
  }

  /** After a stage: `count` offsets from the head are taken. */
  advance(partition: number, count: number): void {
    this.#heads.set(partition, this.head(partition) + count);
  }
}

/**
 * The envelopes of one command's append: seqs after the expected version, offsets from `offset`; the
 * schema version only when > 1, as every adapter stores it (port.ts, "Schema versions").
 */
export function positionEvents(r: AppendRequest, offset: number): EventEnvelope[] {
  const n = r.events.length;
  const events: EventEnvelope[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const e = r.events[i]!;
    events[i] = { aggregateType: r.aggregateType, stream: r.stream, type: e.type, seq: r.expectedVersion + i + 1, data: e.data, ts: r.ts, partition: r.partition, offset: offset + i, meta: r.meta };
    if (e.schemaVersion !== undefined && e.schemaVersion > 1) events[i]!.schemaVersion = e.schemaVersion;
  }
  return events;
}

/** Each partition's head (next offset) after the events of `staged`: what a commit answers. */
export function committedHeads(staged: readonly Staged[]): Map<number, number> {
  const heads = new Map<number, number>();
  for (const s of staged) {
    const last = s.events?.[s.events.length - 1];
    if (last && (heads.get(last.partition) ?? -1) < last.offset + 1) heads.set(last.partition, last.offset + 1);
  }
  return heads;
}
