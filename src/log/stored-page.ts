/**
 * A page record (lmdb/pages.ts) assembled from its events' stored records, byte for byte: a page's
 * payload is msgpack's array of EVENT_PAGE stored events, and each event record's payload is one stored
 * event in the same encoding (record-codec.ts, stored-event.ts), so the page is the array header followed
 * by the events' payloads, framed for the page's address. Every record's checksum is verified first.
 *
 * Why not decode and encode: reading a page's events back as envelopes and encoding them again cost
 * 130-170 us per page on the actor's thread (msgpack decode, envelopes, GC), the copy 45-50 us (a probe
 * over 2 048 pages of 64 Deposits; point reads with `getBinaryFast` instead of the range: ~70 us), and
 * streams that cross a page boundary together pay it thousands of times at once (bench/README, "Page
 * waves"). Copying the stored bytes also keeps a page what the log stores, which is what a page must
 * hold (runtime/versioned-log.ts, Gotchas).
 */
import { ErrorCodes, RuntimeError } from '../kernel/index.js';
import { EVENT_PAGE } from './event-page.js';
import { checkRecord, corruptRecord, frameRecord } from './record-codec.js';
import type { StreamRef } from './stored-event.js';

/** msgpack's array16 header for EVENT_PAGE elements (the encoder writes the same for 16..65535 elements). */
const HEADER = [0xdc, (EVENT_PAGE >>> 8) & 0xff, EVENT_PAGE & 0xff] as const;

/** Collects a page's event records in seq order; `record()` once `complete`. */
export class StoredPageBuilder {
  readonly #aggregateType: string;
  readonly #id: string;
  readonly first: number;
  #next: number;
  #out: Buffer;
  #size: number;

  constructor(aggregateType: string, id: string, first: number) {
    if (!Number.isInteger(first) || first < 1 || (first - 1) % EVENT_PAGE !== 0) {
      throw new RuntimeError(ErrorCodes.Internal, `a page starts at seq k*${EVENT_PAGE}+1, not ${first}`);
    }
    this.#aggregateType = aggregateType;
    this.#id = id;
    this.first = first;
    this.#next = first;
    this.#out = Buffer.allocUnsafe(4 + HEADER.length + EVENT_PAGE * 48);
    this.#out.set(HEADER, 4);
    this.#size = 4 + HEADER.length;
  }

  /** The seq the next record must have. */
  get next(): number {
    return this.#next;
  }

  get complete(): boolean {
    return this.#next === this.first + EVENT_PAGE;
  }

  /** Adds the stored record of event `seq` (the next one: a jump is damage, as on every stream read). */
  add(seq: number, record: Uint8Array): void {
    const key: StreamRef = [this.#aggregateType, this.#id, seq];
    if (seq !== this.#next) throw corruptRecord('events', key, `stream ${this.#aggregateType}/${this.#id} jumps from seq ${this.#next - 1} to ${seq}`);
    if (this.complete) throw new RuntimeError(ErrorCodes.Internal, `a page holds ${EVENT_PAGE} events`);
    checkRecord(record, 'events', key);
    const length = record.length - 4;
    if (this.#size + length > this.#out.length) {
      const grown = Buffer.allocUnsafe(Math.max(this.#out.length * 2, this.#size + length));
      this.#out.copy(grown, 0, 0, this.#size);
      this.#out = grown;
    }
    // Copied now: a reader may hand out views of a buffer it reuses for the next record. A loop for the
    // usual tens of bytes: `subarray` and `Buffer.copy` each cost more than the copy itself (profile).
    const out = this.#out;
    if (length <= 256) {
      for (let i = 0, o = this.#size; i < length; i++, o++) out[o] = record[i + 4]!;
    } else {
      out.set(record.subarray(4), this.#size);
    }
    this.#size += length;
    this.#next++;
  }

  /**
   * The framed page record for [aggregateType, id, first] in `pages`: a view of the builder's buffer,
   * which may be larger (LMDB copies what it puts; a store that keeps it copies it to its size).
   */
  record(): Buffer {
    if (!this.complete) throw new RuntimeError(ErrorCodes.Internal, `a page holds ${EVENT_PAGE} events, got ${this.#next - this.first}`);
    return frameRecord(this.#out.subarray(0, this.#size), 'pages', [this.#aggregateType, this.#id, this.first]);
  }
}
