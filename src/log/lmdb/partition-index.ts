/**
 * The partition index: the `partitions` database (see environment.ts), [partition, firstOffset] ->
 * [[aggregateType, id, seq], ...], each partition's log in offset order for subscribers (projections,
 * the feed, the video reactor). One record holds a run of consecutive offsets written by one commit, at
 * most INDEX_RUN of them: a batch costs one index put per partition, not one per event. A partition's
 * head is the end of its last run. Reads check each ref against the event it points at, so a damaged
 * index can neither skip nor invent an event. A scavenge (prefix-removal.ts) removes whole records from
 * the front, rewrites the records around the events it removes as runs of the refs that stay and gap
 * records (a count of removed offsets, so the records still tile the partition and a missing one is
 * still damage), and leaves some refs of removed events in the records it does not rewrite: reads start
 * at the partition's start and skip gaps and refs whose event lies below its stream's start, so the
 * offsets a read returns may have gaps after a scavenge (a read's `limit` bounds offsets, not events).
 *
 * Gotchas: runs are only ever added (invariant 10, see fence.ts): a run whose first offset is already
 * indexed fails the whole batch, and every later batch of its writer.
 */
import type { Key } from 'lmdb';
import type { EventEnvelope } from '../../kernel/index.js';
import { corruptRecord, decodeRecord, encodeRecord } from '../record-codec.js';
import type { StreamRef } from '../stored-event.js';
import type { LmdbEnvironment, LogDb } from './environment.js';
import type { OwnerFence } from './fence.js';
import type { StreamStore } from './streams.js';
import type { StreamMetaStore } from './stream-meta.js';
import type { StagedPut, StagedWrite, WriteChain } from './write-chain.js';

/** Most refs in one partition-index record: bounds what a reader decodes to reach one offset. */
export const INDEX_RUN = 512;

/** A partition-index record: the refs of a run of offsets, or how many removed offsets it covers (a gap). */
export type IndexRun = StreamRef[] | number;

export function decodeRun(key: Key, value: Buffer): IndexRun {
  const run = decodeRecord<IndexRun>(value, 'partitions', key as number[]);
  if (typeof run === 'number' ? !Number.isSafeInteger(run) || run <= 0 : !Array.isArray(run) || run.length === 0) throw corruptRecord('partitions', key, 'not a run of refs nor a gap');
  return run;
}

function runLength(run: IndexRun): number {
  return typeof run === 'number' ? run : run.length;
}

export class PartitionIndex {
  readonly #env: LmdbEnvironment;
  readonly #fence: OwnerFence;
  readonly #streams: StreamStore;
  readonly #partlog: LogDb;

  readonly #meta: StreamMetaStore;

  constructor(env: LmdbEnvironment, fence: OwnerFence, streams: StreamStore, meta: StreamMetaStore) {
    this.#meta = meta;
    this.#env = env;
    this.#fence = fence;
    this.#streams = streams;
    this.#partlog = env.partlog;
  }

  /** The next offset to be written in a partition (= number of events in it). */
  partitionHead(partition: number): number {
    try {
      return this.#partitionHead(partition);
    } catch (err) {
      throw this.#env.damaged(err, `partition ${partition}`, partition);
    }
  }

  #partitionHead(partition: number): number {
    for (const { key, value } of this.#partlog.getRange({ start: [partition, Number.MAX_SAFE_INTEGER], end: [partition, -1], reverse: true, limit: 1 })) {
      return (key as number[])[1]! + runLength(decodeRun(key, value));
    }
    return 0;
  }

  /**
   * Events of a partition in offset order, starting at `from`. Each ref is checked against the event
   * it points at (the event record carries its own partition and offset), so a damaged index can
   * neither skip nor invent an event.
   */
  *iteratePartition(partition: number, from = 0, limit = Number.MAX_SAFE_INTEGER): Generator<EventEnvelope> {
    try {
      yield* this.#iteratePartition(partition, from, limit);
    } catch (err) {
      throw this.#env.damaged(err, `partition ${partition}`, partition);
    }
  }

  *#iteratePartition(partition: number, from = 0, limit = Number.MAX_SAFE_INTEGER): Generator<EventEnvelope> {
    if (limit <= 0) return;
    // A scavenge removed the index below the partition's start (and the events its records pointed at).
    const first = this.#meta.partitionStart(partition);
    const lo = Math.max(from, first);
    const end = from + limit;
    // The run holding `lo` starts at or before it.
    let start = lo;
    for (const key of this.#partlog.getKeys({ start: [partition, lo], end: [partition, -1], reverse: true, limit: 1 })) start = Math.max((key as number[])[1]!, first);
    let expected = start;
    for (const { key, value } of this.#partlog.getRange({ start: [partition, start], end: [partition, Number.MAX_SAFE_INTEGER], snapshot: false })) {
      const runFirst = (key as number[])[1]!;
      if (runFirst !== expected) throw corruptRecord('partitions', key, `partition ${partition} index jumps from offset ${expected} to ${runFirst}`, partition);
      const refs = decodeRun(key, value);
      expected = runFirst + runLength(refs);
      if (typeof refs === 'number') {
        if (expected >= end) return;
        continue;
      }
      for (let i = Math.max(0, lo - runFirst); i < refs.length; i++) {
        const [t, id, seq] = refs[i]!;
        const offset = runFirst + i;
        if (offset >= end) return;
        const e = this.#streams.readEvent(t, id, seq);
        // Removed by a scavenge (below its stream's start): not damage, and not there to read.
        if (!e && seq < this.#meta.streamStart(t, id)) continue;
        if (!e || e.partition !== partition || e.offset !== offset) {
          throw corruptRecord('partitions', key, `partition ${partition} offset ${offset} points at ${e ? 'another' : 'a missing'} event ${t}/${id}#${seq}`, partition);
        }
        yield e;
      }
    }
  }

  /** The first offset the partition's index still holds (0 unless a scavenge removed a prefix). */
  partitionStart(partition: number): number {
    return this.#meta.partitionStart(partition);
  }

  readPartition(partition: number, from = 0, limit = 1000): EventEnvelope[] {
    return [...this.iteratePartition(partition, from, limit)];
  }

  /**
   * The partition-index records of one commit: each partition's refs, cut into runs of consecutive
   * offsets (at most INDEX_RUN each). The single owner of a partition assigns its offsets in order, so
   * one commit's events of a partition are normally one run.
   */
  indexPuts(staged: readonly StagedWrite[], chain: WriteChain | undefined): StagedPut[] {
    const runs = new Map<number, { first: number; refs: StreamRef[] }>();
    const puts: StagedPut[] = [];
    for (const s of staged) {
      if (!s.events) continue;
      for (const e of s.events) {
        let run = runs.get(e.partition);
        if (run && (run.first + run.refs.length !== e.offset || run.refs.length >= INDEX_RUN)) {
          puts.push(this.#indexPut(e.partition, run, chain));
          run = undefined;
        }
        if (!run) runs.set(e.partition, (run = { first: e.offset, refs: [] }));
        run.refs.push([e.aggregateType, e.stream, e.seq]);
      }
    }
    for (const [p, run] of runs) puts.push(this.#indexPut(p, run, chain));
    return puts;
  }

  #indexPut(partition: number, run: { first: number; refs: StreamRef[] }, chain: WriteChain | undefined): StagedPut {
    const key = [partition, run.first];
    // The run's first offset is the owner's next one: taken means the index is damaged (invariant 10).
    if (this.#fence.taken(this.#partlog, key, `partition ${partition}`, partition)) throw this.#fence.positionTaken('partitions', key, `partition ${partition} offset ${run.first} is already indexed; the partition head was read short`, partition, chain);
    return [this.#partlog, key, encodeRecord(run.refs, 'partitions', key), true];
  }
}
