/**
 * The scavenge's physical removals (docs/data-lifecycle.md, "Scavenge"), in bounded steps:
 * - a stream's prefix: events below a seq, the pages wholly below it, snapshots below it - 1 (the one at
 *   it - 1 is where hydration starts), and, once no event below it is left, the command records whose
 *   events all lie below it; the stream's start mark (stream-meta.ts) moves in the same transaction;
 * - the refs of the events a stream step removes, in the partition-index records around them (not the
 *   partition's last record: its end is the head): each such record is rewritten as runs of the refs it
 *   keeps and gap records (`[partition, first] -> n`, n removed offsets), a gap merged with a gap just
 *   before it. Without this, a partition shared with streams that keep their events (whose records pin
 *   its front) kept ~20-30 bytes of index per removed event for good;
 * - a partition's front: index records whose every ref points below its stream's start (gap records
 *   too), never past the offset its consumers reached and never the partition's last record (its head
 *   is the end of that one); the partition's start mark moves with them.
 *
 * Why steps of at most `budget` keys, each its own transaction outside every writer's chain: LMDB runs
 * one write transaction at a time, so a long removal would hold every worker's commit behind it; a step
 * of a few hundred removals costs about what one drain's commit does. Nothing a removal touches is ever
 * written again by a writer (appends only add seqs above a stream's head and offsets at a partition's
 * head; a removal never reaches either), so the steps need neither the chain's order nor the fence.
 * Each step is whole or absent after a crash, and the marks only move with what they cover: a kill -9
 * between steps leaves a consistent prefix removed, and the next scavenge goes on from the marks.
 *
 * Gotchas:
 * - Command records are keyed by command id, not seq: each step scans them from the stream's first one
 *   (the ones it removes are gone from the next scan, so a scan meets at most the kept ones again).
 * - The caller decides what may go (runtime/scavenge.ts): the adapter only refuses to remove a stream's
 *   last event (its head would be lost, and its seqs reused).
 * - The index rewrite reads the records that span the step's first to last removed offset; a stream whose
 *   events are spread thin over a busy partition (more than INDEX_SCAN records for one step) keeps those
 *   refs (reads skip them, as before): the step's transaction stays short.
 */
import { ErrorCodes, RuntimeError } from '../../kernel/index.js';
import { EVENT_PAGE } from '../event-page.js';
import { decodeRecord, encodeRecord } from '../record-codec.js';
import type { StreamRef } from '../stored-event.js';
import type { LmdbEnvironment, LogDb } from './environment.js';
import { decodeRun, type IndexRun } from './partition-index.js';
import type { StreamMetaStore } from './stream-meta.js';
import type { StreamStore } from './streams.js';
import type { StagedPut } from './write-chain.js';
import type { PrefixRemoval, PartitionTrim } from '../port.js';

/** Removals per step when the caller names no budget. */
export const REMOVAL_BUDGET = 512;
/** Most partition-index records one stream step reads to drop the refs of the events it removes. */
export const INDEX_SCAN = 256;

/** `streamStart` read once per stream for one step (a step meets the same streams' refs many times). */
function startsOf(meta: StreamMetaStore): (aggregateType: string, id: string) => number {
  const starts = new Map<string, number>();
  return (t, id) => {
    const k = t + '\u0000' + id;
    let s = starts.get(k);
    if (s === undefined) starts.set(k, (s = meta.streamStart(t, id)));
    return s;
  };
}

export class PrefixRemover {
  readonly #env: LmdbEnvironment;
  readonly #streams: StreamStore;
  readonly #meta: StreamMetaStore;

  constructor(env: LmdbEnvironment, streams: StreamStore, meta: StreamMetaStore) {
    this.#env = env;
    this.#streams = streams;
    this.#meta = meta;
  }

  /** One step of removing stream `id`'s records below seq `below`: the puts (removals and the mark) and what they remove. */
  streamStep(aggregateType: string, id: string, below: number, budget = REMOVAL_BUDGET): { puts: StagedPut[]; removed: PrefixRemoval } {
    const head = this.#streams.streamHead(aggregateType, id).version;
    if (!Number.isSafeInteger(below) || below > head) throw new RuntimeError(ErrorCodes.InvalidQuery, `a scavenge keeps a stream's last event: ${aggregateType}/${id} is at version ${head}, asked to remove below ${below}`, { head, below });
    const env = this.#env;
    const start = this.#meta.streamStart(aggregateType, id);
    const removed: PrefixRemoval = { events: 0, pages: 0, snapshots: 0, commands: 0, start, done: true };
    const puts: StagedPut[] = [];
    if (below <= start) return { puts, removed };
    const max = Math.max(1, budget);
    let next = start;
    {
      for (const key of env.events.getKeys({ start: [aggregateType, id, start], end: [aggregateType, id, below], limit: max, snapshot: false })) {
        puts.push([env.events, key as StreamRef, null]);
        next = (key as StreamRef)[2] + 1;
      }
      // Fewer than the budget: nothing is left below `below` (a key already gone is no loss).
      if (puts.length < max) next = below;
      removed.events = puts.length;
      removed.start = next;
      puts.push(this.#meta.stageStreamStart(aggregateType, id, next));
      if (removed.events > 0) this.#dropRefs(puts, aggregateType, id, start, next);
      removed.pages = this.#removeBelow(puts, env.pages, aggregateType, id, next - EVENT_PAGE + 1);
      removed.snapshots = this.#removeBelow(puts, env.snapshots, aggregateType, id, next - 1);
      if (next < below) {
        removed.done = false;
        return { puts, removed };
      }
    }
    // No event below `below` is left: the command records of those events go (a retry of such a command
    // is no longer recognised: idempotency reaches back as far as retention keeps events).
    const left = max - removed.events;
    for (const { key, value } of env.commands.getRange({ start: [aggregateType, id], end: [aggregateType, id + '\u0000'], snapshot: false })) {
      if (removed.commands >= left) {
        removed.done = false;
        break;
      }
      const [, last] = decodeRecord<[number, number, string?]>(value, 'commands', key as never);
      if (last < next) {
        puts.push([env.commands, key as StreamRef, null]);
        removed.commands++;
      }
    }
    return { puts, removed };
  }

  /**
   * One step of dropping partition `partition`'s index records from its front: each whose refs all lie
   * below their streams' starts and whose offsets all lie below `upTo`, never the last one.
   */
  partitionStep(partition: number, upTo: number, budget = REMOVAL_BUDGET): { puts: StagedPut[]; trimmed: PartitionTrim } {
    const env = this.#env;
    const first = this.#meta.partitionStart(partition);
    const trimmed: PartitionTrim = { records: 0, offsets: 0, start: first, done: true };
    const puts: StagedPut[] = [];
    const startOf = startsOf(this.#meta);
    let start = first;
    let pending: { key: unknown; end: number } | null = null;
    for (const { key, value } of env.partlog.getRange({ start: [partition, first], end: [partition, Number.MAX_SAFE_INTEGER], snapshot: false })) {
      // The record before this one is not the partition's last: it may go.
      if (pending) {
        puts.push([env.partlog, pending.key as number[], null]);
        trimmed.records++;
        trimmed.offsets += pending.end - start;
        start = pending.end;
        pending = null;
        if (trimmed.records >= budget) {
          trimmed.done = false;
          break;
        }
      }
      const runFirst = (key as number[])[1]!;
      const run = decodeRun(key, value);
      const end = runFirst + (typeof run === 'number' ? run : run.length);
      if (runFirst !== start) break;
      if (typeof run === 'number' && end > upTo && runFirst < upTo) {
        // A gap reaching past upTo: its part below upTo goes (the rest stays a gap, keyed at upTo).
        puts.push([env.partlog, key as number[], null]);
        puts.push([env.partlog, [partition, upTo], encodeRecord(end - upTo, 'partitions', [partition, upTo])]);
        trimmed.offsets += upTo - start;
        start = upTo;
        trimmed.records++;
        break;
      }
      if (end > upTo || (typeof run !== 'number' && !run.every(([t, id, seq]) => seq < startOf(t, id)))) break;
      pending = { key, end };
    }
    if (trimmed.records > 0) puts.push(this.#meta.stagePartitionStart(partition, start));
    trimmed.start = start;
    return { puts, trimmed };
  }

  /**
   * Stages the rewrite of the partition-index records that hold refs of stream `id`'s events `from` to
   * `next - 1` (the step removes them) or of events already below their stream's start: runs of the refs
   * that stay, gap records for the rest (see the header). Nothing when the span is wider than INDEX_SCAN.
   */
  #dropRefs(puts: StagedPut[], aggregateType: string, id: string, from: number, next: number): void {
    const env = this.#env;
    const first = this.#streams.readEvent(aggregateType, id, from);
    const last = this.#streams.readEvent(aggregateType, id, next - 1);
    if (!first || !last || first.partition !== last.partition) return;
    const { partition, offset: lo } = first;
    const hi = last.offset;
    let lastKey = -1;
    for (const key of env.partlog.getKeys({ start: [partition, Number.MAX_SAFE_INTEGER], end: [partition, -1], reverse: true, limit: 1 })) lastKey = (key as number[])[1]!;
    // The record before the one holding `lo`, if it is a gap that the first rewritten record may extend.
    let begin = lo;
    for (const key of env.partlog.getKeys({ start: [partition, lo], end: [partition, -1], reverse: true, limit: 1 })) begin = (key as number[])[1]!;
    let gap: { first: number; n: number } | null = null;
    for (const { key, value } of env.partlog.getRange({ start: [partition, begin - 1], end: [partition, -1], reverse: true, limit: 1 })) {
      const run = decodeRun(key, value);
      if (typeof run === 'number' && (key as number[])[1]! + run === begin) gap = { first: (key as number[])[1]!, n: run };
    }
    const startOf = startsOf(this.#meta);
    const gone = ([t, sid, seq]: StreamRef): boolean => seq < (t === aggregateType && sid === id ? next : startOf(t, sid));
    // The records to write, by first offset (null: removed, merged into the gap before it).
    const writes = new Map<number, IndexRun | null>();
    let scanned = 0;
    for (const { key, value } of env.partlog.getRange({ start: [partition, begin], end: [partition, hi + 1], snapshot: false })) {
      const runFirst = (key as number[])[1]!;
      if (runFirst === lastKey) break;
      if (++scanned > INDEX_SCAN) return;
      const run = decodeRun(key, value);
      if (typeof run === 'number') {
        gap = { first: runFirst, n: run };
        continue;
      }
      if (!run.some(gone)) {
        gap = null;
        continue;
      }
      writes.set(runFirst, null);
      let kept: { first: number; refs: StreamRef[] } | null = null;
      run.forEach((ref, i) => {
        const offset = runFirst + i;
        if (!gone(ref)) {
          if (!kept) writes.set(offset, (kept = { first: offset, refs: [] }).refs);
          kept.refs.push(ref);
          gap = null;
          return;
        }
        kept = null;
        if (gap && gap.first + gap.n === offset) gap.n++;
        else gap = { first: offset, n: 1 };
        writes.set(gap.first, gap.n);
      });
    }
    for (const [at, run] of writes) {
      const key = [partition, at];
      puts.push([env.partlog, key, run === null ? null : encodeRecord(run, 'partitions', key)]);
    }
  }

  /** Stages the removal of every key of `db` for the stream below seq `below`; returns how many. */
  #removeBelow(puts: StagedPut[], db: LogDb, aggregateType: string, id: string, below: number): number {
    if (below <= 0) return 0;
    let n = 0;
    for (const key of db.getKeys({ start: [aggregateType, id, 0], end: [aggregateType, id, below], snapshot: false })) {
      puts.push([db, key as StreamRef, null]);
      n++;
    }
    return n;
  }
}
