/**
 * What a memory log holds, committed: per stream its events, command ids, snapshots and pages; per
 * partition the refs of its events in offset order; the owner epoch and each writer's chain mark. Every
 * value is kept as the bytes LMDB would store (`encodeRecord`: the same msgpack encoding and framing),
 * so the log never shares an object with a caller and what it cannot hold fails the same way.
 *
 * Only `apply` changes it, with one batch's operations, in one synchronous step that checks every
 * position first and changes nothing when one is wrong (see write-queue.ts for when it runs).
 *
 * Gotchas: positions are array indexes here (seq - 1 in a stream, the offset in a partition), so a
 * batch that would leave a gap is refused outright; LMDB would store it and report the gap on read.
 */
import { ErrorCodes, RuntimeError } from '../../kernel/index.js';
import { corruptRecord, decodeRecord } from '../record-codec.js';
import { EVENT_PAGE } from '../event-page.js';
import type { PartitionTrim, PrefixRemoval } from '../port.js';

import type { StreamRef } from '../stored-event.js';

/** One write of a staged batch, already encoded (the writer encodes at staging: memory-writer.ts). */
export type StoreOp =
  | { kind: 'event'; ref: StreamRef; partition: number; offset: number; record: Buffer }
  | { kind: 'command'; aggregateType: string; id: string; commandId: string; record: Buffer }
  /** `record: null` removes the snapshot. */
  | { kind: 'snapshot'; ref: StreamRef; record: Buffer | null }
  | { kind: 'page'; ref: StreamRef; record: Buffer };

export interface StreamData {
  /** The event of seq n at index n - 1; REMOVED below `start` (a scavenge freed them). */
  readonly events: Buffer[];
  /** The first seq still stored (1 unless a scavenge removed a prefix). */
  start: number;
  readonly commands: Map<string, Buffer>;
  /** Stream version -> snapshot record. */
  readonly snapshots: Map<number, Buffer>;
  /** First seq of the page -> page record. */
  readonly pages: Map<number, Buffer>;
}

/** A writer's place in its chain (the port's write-chain rule): the version its next batch must find. */
export interface WriteChain {
  readonly writerId: string;
  /** The owner epoch the writer was opened with: its batches apply only while it is still current. */
  readonly epoch: number;
  /** The mark the next batch expects; a batch consumes one whether it applies or not. */
  version: number;
}

export class MemoryStore {
  readonly partitionCount: number;
  /** Per partition, the event at each offset. */
  readonly #partitions: StreamRef[][];
  readonly #types = new Map<string, Map<string, StreamData>>();
  /** Per partition, the first offset still indexed (a scavenge moves it). */
  readonly partitionStarts: number[];
  #owner = { epoch: 0, holder: '' };
  /** writerId -> the version the writer's next batch must carry (LMDB: the `writers` entry version). */
  readonly #marks = new Map<string, number>();

  constructor(partitions: number) {
    this.partitionCount = partitions;
    this.#partitions = Array.from({ length: partitions }, () => []);
    this.partitionStarts = Array.from({ length: partitions }, () => 0);
  }

  stream(aggregateType: string, id: string): StreamData | undefined {
    return this.#types.get(aggregateType)?.get(id);
  }

  /** The refs of a partition, by offset (empty for a partition outside 0..P-1, like an empty one). */
  partition(partition: number): readonly StreamRef[] {
    return this.#partitions[partition] ?? [];
  }

  /** Ids of the streams of a type that hold events, in key order (ids are ASCII: code-unit order is byte order). */
  streamIds(aggregateType: string): string[] {
    const streams = this.#types.get(aggregateType);
    if (!streams) return [];
    return [...streams].filter(([, s]) => s.events.length > 0).map(([id]) => id).sort(byKey);
  }

  // ---------------------------------------------------------------- owner and chains

  get ownerEpoch(): number {
    return this.#owner.epoch;
  }

  claim(holder: string): number {
    this.#owner = { epoch: this.#owner.epoch + 1, holder };
    return this.#owner.epoch;
  }

  /** Starts or continues the chain of `writerId` (a writer reopened under the same id continues it). */
  chainOf(writerId: string, epoch: number): WriteChain {
    const version = this.#marks.get(writerId) ?? 1;
    this.#marks.set(writerId, version);
    return { writerId, epoch, version };
  }

  /**
   * Why a batch of `chain` carrying `version` may not apply now: another owner claimed the log
   * (`Fenced`), or an earlier batch of the writer did not apply (`StorageFailed`, not applied). Null
   * when it may. Same checks, same order and same words as LMDB's (`notApplied` in lmdb/fence.ts).
   */
  refusal(chain: WriteChain, version: number): RuntimeError | null {
    if (this.#owner.epoch !== chain.epoch) {
      return new RuntimeError(
        ErrorCodes.Fenced,
        `the log was taken over by another owner (owner epoch ${this.#owner.epoch}, ${this.#owner.holder}; this writer had ${chain.epoch}): this writer stops writing`,
        { epoch: chain.epoch, current: this.#owner.epoch },
      );
    }
    if (this.#marks.get(chain.writerId) !== version) {
      return new RuntimeError(ErrorCodes.StorageFailed, `write batch ${version} of ${chain.writerId} was not applied: an earlier batch of this writer did not commit`, { outcome: 'not-applied' }, true);
    }
    return null;
  }

  // ---------------------------------------------------------------- the one way in

  /**
   * Applies one batch of `chain` whole, or throws and changes nothing: the chain's refusal, else
   * `CorruptRecord` for a position already taken (invariant 10: the record there is kept).
   */
  apply(chain: WriteChain, version: number, ops: readonly StoreOp[]): void {
    const refused = this.refusal(chain, version);
    if (refused) throw refused;
    this.#checkPositions(ops);
    for (const op of ops) {
      const [aggregateType, id, seq] = op.kind === 'command' ? [op.aggregateType, op.id, 0] : op.ref;
      const stream = this.#streamFor(aggregateType, id);
      if (op.kind === 'event') {
        stream.events.push(op.record);
        this.#partitions[op.partition]!.push(op.ref);
      } else if (op.kind === 'command') stream.commands.set(op.commandId, op.record);
      else if (op.kind === 'page') stream.pages.set(seq, op.record);
      else if (op.record === null) stream.snapshots.delete(seq);
      else stream.snapshots.set(seq, op.record);
    }
    this.#marks.set(chain.writerId, version + 1);
  }

  // ---------------------------------------------------------------- the scavenge (outside every chain)

  /** As lmdb/prefix-removal.ts `streamStep`: events below `below` (at most `budget`), then pages, snapshots and command records. */
  removePrefix(aggregateType: string, id: string, below: number, budget: number): PrefixRemoval {
    const stream = this.stream(aggregateType, id);
    const head = stream?.events.length ?? 0;
    if (!Number.isSafeInteger(below) || below > head) throw new RuntimeError(ErrorCodes.InvalidQuery, `a scavenge keeps a stream's last event: ${aggregateType}/${id} is at version ${head}, asked to remove below ${below}`, { head, below });
    const removed: PrefixRemoval = { events: 0, pages: 0, snapshots: 0, commands: 0, start: stream?.start ?? 1, done: true };
    if (!stream || below <= stream.start) return removed;
    const next = Math.min(below, stream.start + budget);
    for (let seq = stream.start; seq < next; seq++) stream.events[seq - 1] = REMOVED;
    removed.events = next - stream.start;
    stream.start = removed.start = next;
    for (const first of [...stream.pages.keys()]) if (first + EVENT_PAGE <= next) removed.pages += Number(stream.pages.delete(first));
    for (const v of [...stream.snapshots.keys()]) if (v < next - 1) removed.snapshots += Number(stream.snapshots.delete(v));
    if (next < below) return { ...removed, done: false };
    for (const [commandId, record] of stream.commands) {
      if (removed.events + removed.commands >= budget) return { ...removed, done: false };
      const [, last] = decodeRecord<[number, number]>(record, 'commands', [aggregateType, id, commandId]);
      if (last < next) removed.commands += Number(stream.commands.delete(commandId));
    }
    return removed;
  }

  /** As lmdb/prefix-removal.ts `partitionStep`, by offsets (at most `budget`): never past `upTo`, never the last one. */
  trimPartition(partition: number, upTo: number, budget: number): PartitionTrim {
    const refs = this.partition(partition);
    const first = this.partitionStarts[partition] ?? 0;
    let start = first;
    const end = Math.min(upTo, refs.length - 1, first + budget);
    while (start < end) {
      const [t, id, seq] = refs[start]!;
      if (seq >= (this.stream(t, id)?.start ?? 1)) break;
      start++;
    }
    if (start > first) this.partitionStarts[partition] = start;
    // Stopped by the budget alone: more may go.
    return { records: start - first, offsets: start - first, start, done: !(start - first >= budget && start < Math.min(upTo, refs.length - 1)) };
  }

  /** Each event must take the next seq of its stream and the next offset of its partition. */
  #checkPositions(ops: readonly StoreOp[]): void {
    const nextSeq = new Map<string, number>();
    const nextOffset = new Map<number, number>();
    for (const op of ops) {
      if (op.kind !== 'event') continue;
      const [aggregateType, id, seq] = op.ref;
      const streamKey = JSON.stringify([aggregateType, id]);
      const seqWanted = nextSeq.get(streamKey) ?? (this.stream(aggregateType, id)?.events.length ?? 0) + 1;
      if (seq < seqWanted) throw corruptRecord('events', op.ref, `position ${aggregateType}/${id}#${seq} already holds an event; the stream's head was read short`, op.partition);
      if (seq > seqWanted) throw new RuntimeError(ErrorCodes.Internal, `an append at ${aggregateType}/${id}#${seq} would leave a gap after seq ${seqWanted - 1}`);
      nextSeq.set(streamKey, seq + 1);
      const refs = this.#partitions[op.partition];
      if (!refs) throw new RuntimeError(ErrorCodes.Internal, `partition ${op.partition} is outside 0..${this.partitionCount - 1}`);
      const offsetWanted = nextOffset.get(op.partition) ?? refs.length;
      if (op.offset < offsetWanted) throw corruptRecord('partitions', [op.partition, op.offset], `partition ${op.partition} offset ${op.offset} is already indexed; the partition head was read short`, op.partition);
      if (op.offset > offsetWanted) throw new RuntimeError(ErrorCodes.Internal, `an append at partition ${op.partition} offset ${op.offset} would leave a gap after offset ${offsetWanted - 1}`);
      nextOffset.set(op.partition, op.offset + 1);
    }
  }

  #streamFor(aggregateType: string, id: string): StreamData {
    let streams = this.#types.get(aggregateType);
    if (!streams) this.#types.set(aggregateType, (streams = new Map()));
    let stream = streams.get(id);
    if (!stream) streams.set(id, (stream = { events: [], start: 1, commands: new Map(), snapshots: new Map(), pages: new Map() }));
    return stream;
  }
}

/** What a removed event's place holds: positions stay array indexes (see the header). */
export const REMOVED: Buffer = Buffer.alloc(0);

/** Key order of ids and row ids: LMDB compares their bytes; for ASCII that is code-unit order. */
export function byKey(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
