/**
 * Streams: the `events` and `commands` databases (environment.ts). Reads of one stream (its head, its
 * events, a fold from pages and events, one event, the time index, command ids, the stream ids of a
 * type) and the staging of one command's events. Every read verifies what it returns (record-codec.ts)
 * and maps LMDB's own damage reports (`LmdbEnvironment.damaged`).
 *
 * Gotchas:
 * - Long replays iterate with `snapshot: false` so a long-lived read transaction does not pin old pages
 *   and grow the file (lmdb-js #198).
 */
import type { EventEnvelope } from '../../kernel/index.js';
import { corruptRecord, decodeRecord, encodeRecord } from '../record-codec.js';
import { EVENT_PAGE } from '../event-page.js';
import { toEnvelope, toStored, type StoredEvent, type StreamRef } from '../stored-event.js';
import type { LmdbEnvironment, LogDb } from './environment.js';
import type { OwnerFence } from './fence.js';
import type { StagedPut, StagedWrite, WriteChain } from './write-chain.js';
import type { CommandRecord, Evolve, FoldResult, StreamHead } from '../port.js';
import { foldPage, PAGE_PART_MIN, pageStart, scavenged, take, versionAt } from '../read-helpers.js';
import type { StreamMetaStore } from './stream-meta.js';

export class StreamStore {
  readonly #env: LmdbEnvironment;
  readonly #fence: OwnerFence;
  readonly #events: LogDb;
  readonly #commands: LogDb;
  readonly #pages: LogDb;

  readonly #meta: StreamMetaStore;

  constructor(env: LmdbEnvironment, fence: OwnerFence, meta: StreamMetaStore) {
    this.#env = env;
    this.#fence = fence;
    this.#meta = meta;
    this.#events = env.events;
    this.#commands = env.commands;
    this.#pages = env.pages;
  }

  /** The stream's last seq, that event's ts and offset (0/0 and no offset for a stream with no events). */
  streamHead(aggregateType: string, id: string): StreamHead {
    try {
      return this.#streamHead(aggregateType, id);
    } catch (err) {
      throw this.#env.damaged(err, `stream ${aggregateType}/${id}`);
    }
  }

  #streamHead(aggregateType: string, id: string): StreamHead {
    // snapshot: false, as iterateStream: a range that fails on a damaged page must not leave a cursor pinning
    // the thread's read transaction, which `damaged()` then could not renew (MDB_BAD_TXN for every later read).
    for (const { key, value } of this.#events.getRange({ start: [aggregateType, id, Number.MAX_SAFE_INTEGER], end: [aggregateType, id, 0], reverse: true, limit: 1, snapshot: false })) {
      const rec = decodeRecord<StoredEvent>(value, 'events', key as StreamRef);
      return { version: (key as StreamRef)[2], ts: rec[2], offset: rec[4] };
    }
    return { version: 0, ts: 0 };
  }

  /** Events of one stream with `from <= seq <= to`, in order. Iterates without pinning a read snapshot. */
  *iterateStream(aggregateType: string, id: string, from = 1, to = Number.MAX_SAFE_INTEGER): Generator<EventEnvelope> {
    try {
      yield* this.#iterateStream(aggregateType, id, from, to);
    } catch (err) {
      throw this.#env.damaged(err, `stream ${aggregateType}/${id}`);
    }
  }

  *#iterateStream(aggregateType: string, id: string, from = 1, to = Number.MAX_SAFE_INTEGER): Generator<EventEnvelope> {
    let next = Math.max(1, from);
    const range = this.#events.getRange({ start: [aggregateType, id, next], end: [aggregateType, id, to + 1], snapshot: false });
    for (const { key, value } of range) {
      const seq = (key as StreamRef)[2];
      // A stream's seqs are 1, 2, 3, ... (invariant 1): a jump is a lost or damaged key, never a short
      // stream; except to its start, when a scavenge removed what lies before (looked up only then).
      if (seq !== next && !(next < seq && seq === this.#meta.streamStart(aggregateType, id))) throw corruptRecord('events', key, `stream ${aggregateType}/${id} jumps from seq ${next - 1} to ${seq}`);
      next = seq + 1;
      yield toEnvelope(aggregateType, id, seq, decodeRecord<StoredEvent>(value, 'events', key as StreamRef));
    }
  }

  /**
   * Folds the events of one stream with `from <= seq <= to` into `state`: hydration's hot loop. Whole
   * pages inside the range are folded from `pages`, the rest event by event; `evolve` gets only
   * `{ type, data }` (all a decider's evolve may use), no envelope per event, and the stored schema
   * version as its third argument (undefined: 1). Iterates without pinning a read snapshot.
   */
  foldStream<S>(aggregateType: string, id: string, from: number, to: number, state: S, evolve: Evolve<S>): FoldResult<S> {
    try {
      return this.#foldStream(aggregateType, id, from, to, state, evolve);
    } catch (err) {
      throw this.#env.damaged(err, `stream ${aggregateType}/${id}`);
    }
  }

  #foldStream<S>(aggregateType: string, id: string, from: number, to: number, state: S, evolve: Evolve<S>): FoldResult<S> {
    const out: FoldResult<S> = { state, version: 0, ts: 0, folded: 0, paged: 0 };
    let next = Math.max(1, from);
    // Pages over the range, in order, from the one holding `next` (a snapshot's tail starts inside a
    // page); the events before, between (a page not written) and after them one by one, and so is a
    // part of a page too short to be worth decoding the page for. A range that short opens no page
    // cursor at all (most tails after a snapshot are).
    const pages = to - next + 1 >= PAGE_PART_MIN ? this.#pages.getRange({ start: [aggregateType, id, pageStart(next)], end: [aggregateType, id, to + 1], snapshot: false }) : [];
    for (const { key, value } of pages) {
      const first = (key as StreamRef)[2];
      const lo = Math.max(first, next);
      const hi = Math.min(first + EVENT_PAGE - 1, to);
      if (hi - lo + 1 < PAGE_PART_MIN) continue;
      if (lo > next && this.#foldEvents(aggregateType, id, next, lo - 1, out, evolve) !== lo) {
        // No event before the page: a scavenged prefix (only then is the mark read), else the stream's end.
        this.#assertNotScavenged(aggregateType, id, next);
        return out;
      }
      foldPage(out, decodeRecord<StoredEvent[]>(value, 'pages', key as StreamRef), first, evolve, key, lo, hi);
      next = hi + 1;
    }
    this.#foldEvents(aggregateType, id, next, to, out, evolve);
    return out;
  }

  /** Folds events `from..to` one by one into `out`; returns the seq after the last one folded. */
  #foldEvents<S>(aggregateType: string, id: string, from: number, to: number, out: FoldResult<S>, evolve: Evolve<S>): number {
    let next = from;
    if (to < from) return next;
    for (const { key, value } of this.#events.getRange({ start: [aggregateType, id, from], end: [aggregateType, id, to + 1], snapshot: false })) {
      const seq = (key as StreamRef)[2];
      if (seq !== next) {
        if (next === from) this.#assertNotScavenged(aggregateType, id, next);
        throw corruptRecord('events', key, `stream ${aggregateType}/${id} jumps from seq ${next - 1} to ${seq}`);
      }
      const r = decodeRecord<StoredEvent>(value, 'events', key as StreamRef);
      out.state = evolve(out.state, { type: r[0], data: r[1] }, r[6]);
      out.version = seq;
      out.ts = r[2];
      out.folded++;
      next++;
    }
    return next;
  }

  /**
   * A fold needs every event of its range: one that starts below the stream's start (a scavenged prefix)
   * is `Gone`. Read only when a fold finds no event where it starts, so hydration's hot path pays nothing
   * (a snapshot at or after start - 1 is where hydration starts: runtime/scavenge.ts keeps one).
   */
  #assertNotScavenged(aggregateType: string, id: string, next: number): void {
    const start = this.#meta.streamStart(aggregateType, id);
    if (next < start) throw scavenged(aggregateType, id, start);
  }

  readStream(aggregateType: string, id: string, from = 1, limit = Number.MAX_SAFE_INTEGER): EventEnvelope[] {
    return take(this.iterateStream(aggregateType, id, from), limit);
  }

  /** One event by position; undefined when absent. */
  readEvent(aggregateType: string, id: string, seq: number): EventEnvelope | undefined {
    try {
      return this.#readEvent(aggregateType, id, seq);
    } catch (err) {
      throw this.#env.damaged(err, `stream ${aggregateType}/${id}`);
    }
  }

  #readEvent(aggregateType: string, id: string, seq: number): EventEnvelope | undefined {
    const key: StreamRef = [aggregateType, id, seq];
    const buf = this.#events.getBinary(key);
    if (!buf) return undefined;
    return toEnvelope(aggregateType, id, seq, decodeRecord<StoredEvent>(buf, 'events', key));
  }

  versionAt(aggregateType: string, id: string, at: number): number {
    return versionAt(this, aggregateType, id, at);
  }

  /** The first seq the stream still stores (1 unless a scavenge removed a prefix). */
  streamStart(aggregateType: string, id: string): number {
    return this.#meta.streamStart(aggregateType, id);
  }

  /** The seqs a command id produced, and the digest of the command it was first used with. */
  findCommand(aggregateType: string, id: string, commandId: string): CommandRecord | undefined {
    try {
      return this.#findCommand(aggregateType, id, commandId);
    } catch (err) {
      throw this.#env.damaged(err, `stream ${aggregateType}/${id}`);
    }
  }

  #findCommand(aggregateType: string, id: string, commandId: string): CommandRecord | undefined {
    const key = [aggregateType, id, commandId];
    const buf = this.#commands.getBinary(key);
    if (!buf) return undefined;
    const [first, last, digest] = decodeRecord<[number, number, string?]>(buf, 'commands', key);
    return digest === undefined ? { first, last } : { first, last, digest };
  }

  /** Every stream key of an aggregate type, in key order (for rebuilds, reconcile and listings). */
  *iterateStreamIds(aggregateType: string): Generator<string> {
    try {
      yield* this.#iterateStreamIds(aggregateType);
    } catch (err) {
      throw this.#env.damaged(err, `the ${aggregateType} streams`);
    }
  }

  *#iterateStreamIds(aggregateType: string): Generator<string> {
    let last: string | undefined;
    for (const key of this.#events.getKeys({ start: [aggregateType], end: [aggregateType + '\u0000'], snapshot: false })) {
      const id = (key as StreamRef)[1];
      if (id !== last) yield (last = id);
    }
  }

  /**
   * Encodes the events of one command (and its idempotency record) without writing anything: data that
   * cannot be encoded fails here, before a single record of the command is queued (all or nothing).
   * `counted`: the writer staged the seq before the first event itself, so the positions are not read.
   */
  stageAppend(events: readonly EventEnvelope[], commandId?: string, commandDigest?: string, chain?: WriteChain, counted = false): StagedWrite {
    const puts: StagedPut[] = [];
    for (const e of events) {
      const rec = toStored(e);
      const key: StreamRef = [e.aggregateType, e.stream, e.seq];
      // Invariant 10: the owner's own positions are free unless the log is damaged (see fence.ts).
      if (!counted && this.#fence.taken(this.#events, key, `stream ${e.aggregateType}/${e.stream}`, e.partition)) throw this.#fence.positionTaken('events', key, `position ${e.aggregateType}/${e.stream}#${e.seq} already holds an event; the stream's head was read short (damaged key?)`, e.partition, chain);
      puts.push([this.#events, key, encodeRecord(rec, 'events', key)]);
    }
    const first = events[0];
    const tail = events[events.length - 1];
    if (commandId !== undefined && first && tail) {
      const key = [first.aggregateType, first.stream, commandId];
      // Not checked here: the actor host looked the id up (findCommand) before deciding the command.
      puts.push([this.#commands, key, encodeRecord(commandDigest === undefined ? [first.seq, tail.seq] : [first.seq, tail.seq, commandDigest], 'commands', key)]);
    }
    return { puts, events };
  }
}
