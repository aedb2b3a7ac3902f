/**
 * A catch-up chunk: a run of one partition's events, `first` to `end` (exclusive), encoded once exactly
 * as the feed sends them and shared by every client that catches up over that run.
 *
 * Why the bytes after the message head: a catch-up message is `{"kind":"events","position":"<after>",
 * "events":[e1,e2,...]}`, and `<after>` is the client's whole position, which depends on where it stands
 * on the other partitions. The chunk therefore holds only what every client sends alike, the events and
 * the closing `]}` (`e1,e2,...]}`), and a client sends its own small head and then a subarray of the
 * chunk as the frames of one WebSocket message (client.ts): no copy, whatever the client's position. A
 * client that starts in the middle of a chunk (a `from` between boundaries) sends the subarray that
 * starts at its event; one that must stop before the chunk's end (the end of its lap, client.ts) sends
 * the subarray up to there and a shared `]}`. The bytes a client receives are the same as if the message had been built for it
 * alone (`buildMessage`, batch.ts).
 *
 * A filtered client (`type`, `stream`) sends a cut: the chunk's events that pass its filter, built once per
 * filter (at most `MAX_CUTS` kept per chunk; the memory they take is reported, like a live batch's).
 *
 * `ChunkData` is the plain form that crosses from the reader thread (the buffers are transferred, not
 * copied); `encodeChunk` makes one from events, on whichever thread reads them.
 *
 * Gotchas: `starts` must point at each event's first byte in `body`, events separated by exactly one comma
 * and the body ending with `]}`: a subarray from `starts[i]` to the end must be a valid rest of a message.
 */
import { corruptRecord } from '../../log/index.js';
import type { EventEnvelope } from '../../kernel/index.js';
import { eventJson, MESSAGE_TAIL } from './batch.js';
import { EventKeys, filterKey, isUnfiltered, type FeedFilter } from './event-keys.js';

/** A chunk as it crosses threads: structured-cloneable, its two buffers transferable. */
export interface ChunkData {
  partition: number;
  /** Offset of the chunk's first position (its first event's offset, unless the log was short). */
  first: number;
  /** Offset after the chunk's last event: the client's position on `partition` once it sent the chunk. */
  end: number;
  /** Every event's JSON, comma-separated, then `]}`. */
  body: Uint8Array;
  /** Byte index of each event's JSON in `body`. */
  starts: Uint32Array;
  types: string[];
  streams: string[];
  /** Each event's offset, when they are not `first + i` (a scavenge removed some: port.ts, "Scavenge"). */
  offsets?: Float64Array;
}

/**
 * The events of `events` (a partition read from `first`) with offsets below `first + limit`, as a chunk.
 * `written`: the partition's head as the reader saw it before reading; the chunk covers the offsets up to
 * it (or up to `first + limit`) even where the read returned no event for some of them, which only a
 * scavenge causes (the log checked every ref it followed: port.ts, "Scavenge"). An offset going backwards
 * is a damaged index (`CorruptRecord`).
 */
export function encodeChunk(partition: number, first: number, events: Iterable<EventEnvelope>, limit: number, written = first): ChunkData {
  const jsons: string[] = [];
  const types: string[] = [];
  const streams: string[] = [];
  /** Each event's offset, once a gap made them differ from `first + i`. */
  let offsets: number[] | null = null;
  let next = first;
  if (limit > 0) {
    for (const e of events) {
      if (e.offset >= first + limit) break;
      if (e.offset < next) throw corruptRecord('partitions', [partition, next], `partition ${partition}: expected offset ${next} or later, the log gave ${e.offset}`, partition);
      if (e.offset !== next) offsets ??= jsons.map((_, i) => first + i);
      offsets?.push(e.offset);
      jsons.push(eventJson(e));
      types.push(e.aggregateType);
      streams.push(e.stream);
      next = e.offset + 1;
    }
  }
  const end = Math.max(next, Math.min(first + Math.max(0, limit), written));
  const starts = new Uint32Array(jsons.length);
  let length = MESSAGE_TAIL.length + Math.max(0, jsons.length - 1);
  const sizes = jsons.map((j) => Buffer.byteLength(j));
  for (const n of sizes) length += n;
  // Its own ArrayBuffer (not a slice of Node's pool): the reader thread transfers it.
  const body = Buffer.from(new ArrayBuffer(length));
  let at = 0;
  for (let i = 0; i < jsons.length; i++) {
    if (i > 0) body[at++] = 0x2c; // ','
    starts[i] = at;
    at += body.write(jsons[i]!, at, sizes[i]!, 'utf8');
  }
  body.write(MESSAGE_TAIL, at, 'latin1');
  return { partition, first, end, body, starts, types, streams, ...(offsets ? { offsets: Float64Array.from(offsets) } : {}) };
}

/**
 * What a client sends after its message head, and how many events that is: the chunk's bytes from an
 * event to its end (one shared subarray), or, for a part that stops before the chunk's end, the bytes up
 * to that event and the closing `]}` (two).
 */
export interface ChunkPart {
  readonly data: readonly Buffer[];
  readonly bytes: number;
  readonly events: number;
}

const TAIL = Buffer.from(MESSAGE_TAIL);

/** Filters whose cut a chunk keeps; further filters are cut on each use (rare: many different types). */
const MAX_CUTS = 16;
/** Bookkeeping bytes per event besides its JSON (start index, type and stream references). */
const PER_EVENT_OVERHEAD = 24;

export class EncodedChunk {
  readonly partition: number;
  readonly first: number;
  readonly end: number;
  readonly #body: Buffer;
  readonly #starts: Uint32Array;
  /** The offset of each event, for a cut (null: the chunk itself, where event i is at `first + i`). */
  readonly #offsets: Float64Array | null;
  readonly #keys: EventKeys;
  readonly #cuts = new Map<string, EncodedChunk | null>();
  #bytes: number;
  #onGrow: ((bytes: number) => void) | null = null;

  constructor(data: ChunkData, offsets: Float64Array | null = null) {
    this.partition = data.partition;
    this.first = data.first;
    this.end = data.end;
    this.#body = Buffer.from(data.body.buffer, data.body.byteOffset, data.body.byteLength);
    this.#starts = data.starts;
    this.#offsets = offsets;
    this.#keys = new EventKeys(data.types, data.streams);
    this.#bytes = this.#body.length + data.starts.length * PER_EVENT_OVERHEAD;
  }

  /** Events in the chunk (in a cut: those that passed its filter). */
  get size(): number {
    return this.#starts.length;
  }

  /** Memory held: the bytes, the bookkeeping and every cut kept. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Reports later growth (cuts for new filters) to whoever holds the chunk; null to stop. */
  track(onGrow: ((bytes: number) => void) | null): void {
    this.#onGrow = onGrow;
  }

  /** The rest of a message for the events at offsets `from` to `to` (exclusive), shared bytes; null when there are none. */
  part(from: number, to: number = this.end): ChunkPart | null {
    const i = this.#indexOf(from);
    const j = to >= this.end ? this.size : this.#indexOf(to);
    if (i >= j) return null;
    const start = this.#starts[i]!;
    if (j === this.size) {
      const data = i === 0 ? this.#body : this.#body.subarray(start);
      return { data: [data], bytes: data.length, events: j - i };
    }
    // Up to the comma before event j, then the message's end.
    const events = this.#body.subarray(start, this.#starts[j]! - 1);
    return { data: [events, TAIL], bytes: events.length + TAIL.length, events: j - i };
  }

  /** The chunk as a client with `filter` sees it: itself, or its cut (null when no event passes). */
  filtered(filter: FeedFilter): EncodedChunk | null {
    if (isUnfiltered(filter)) return this;
    const key = filterKey(filter);
    const kept = this.#cuts.get(key);
    if (kept !== undefined) return kept;
    const cut = this.#cut(filter);
    if (this.#cuts.size < MAX_CUTS) {
      this.#cuts.set(key, cut);
      if (cut) {
        this.#bytes += cut.bytes;
        this.#onGrow?.(cut.bytes);
      }
    }
    return cut;
  }

  /** Index of the first event at or after offset `from`. */
  #indexOf(from: number): number {
    const offsets = this.#offsets;
    if (!offsets) return Math.max(0, from - this.first);
    let lo = 0;
    let hi = offsets.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (offsets[mid]! < from) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  #cut(filter: FeedFilter): EncodedChunk | null {
    const picked = this.#keys.matching(filter);
    if (picked.length === 0) return null;
    const ends = (i: number): number => (i + 1 < this.size ? this.#starts[i + 1]! - 1 : this.#body.length - MESSAGE_TAIL.length);
    let length = MESSAGE_TAIL.length + picked.length - 1;
    for (const i of picked) length += ends(i) - this.#starts[i]!;
    const body = Buffer.allocUnsafeSlow(length);
    const starts = new Uint32Array(picked.length);
    const offsets = new Float64Array(picked.length);
    let at = 0;
    picked.forEach((i, k) => {
      if (k > 0) body[at++] = 0x2c;
      starts[k] = at;
      offsets[k] = this.#offsets ? this.#offsets[i]! : this.first + i;
      at += this.#body.copy(body, at, this.#starts[i]!, ends(i));
    });
    body.write(MESSAGE_TAIL, at, 'latin1');
    const data = { partition: this.partition, first: this.first, end: this.end, body, starts, types: picked.map((i) => this.#keys.types[i]!), streams: picked.map((i) => this.#keys.streams[i]!) };
    return new EncodedChunk(data, offsets);
  }
}
