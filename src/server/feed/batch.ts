/**
 * Feed messages and commit batches.
 *
 * A feed message is one WebSocket text frame holding a JSON array of events and the position just after
 * them: `{"kind":"events","position":"12.0.7.3","events":[envelope, ...]}`. A `FeedBatch` is what the hub
 * flushed in one go: the events committed since the previous flush, contiguous per partition from `from`
 * to `to`. Each event is turned into JSON once per batch, and the message for a filter is built once, as
 * a `Buffer`, and shared by every client with that filter: `ws` frames a Buffer without copying it (server
 * frames are not masked), so a hundred clients cost a hundred small headers and socket writes, not a
 * hundred serialisations or string-to-UTF-8 copies.
 *
 * Gotchas: `from`/`to` must be contiguous per partition (the hub splits a batch where a notification
 * skipped offsets); clients decide they may take a batch by comparing their position with `from`. A
 * retained batch's memory (event JSON plus every message built for it) is counted in `bytes`, which the
 * replay buffer uses to stay under its cap: a message built later (a filter nobody used before) adds to it.
 */
import { envelopeJsonText } from '../envelope-json.js';
import { formatPosition, type EventEnvelope } from '../../kernel/index.js';
import { EventKeys, filterKey, isUnfiltered, type FeedFilter } from './event-keys.js';

export type { FeedFilter } from './event-keys.js';

/** A built message and the number of events it carries (for the sent-events counter). */
export interface FeedMessage {
  readonly data: Buffer;
  readonly events: number;
}

/** An event as the feed sends it: `JSON.stringify(envelopeJson(e))` (envelope-json.ts builds it in one pass). */
export function eventJson(e: EventEnvelope): string {
  return envelopeJsonText(e);
}

/** The start of a message, up to its first event. `position` is a formatted position (digits and dots only). */
export function messageHead(position: string): string {
  return `{"kind":"events","position":"${position}","events":[`;
}

const COMMA = Buffer.from(',');
/** The end of a message, after its last event. */
export const MESSAGE_TAIL = ']}';
const TAIL = Buffer.from(MESSAGE_TAIL);

/** The one place the message shape is written (`FeedBatch` copies filtered messages out of one of these). */
export function buildMessage(position: string, eventJsons: readonly string[]): FeedMessage {
  return { data: Buffer.from(`${messageHead(position)}${eventJsons.join(',')}]}`), events: eventJsons.length };
}

/** Bytes of bookkeeping per event besides its JSON (byte range, the type and stream references). */
const PER_EVENT_OVERHEAD = 48;

export class FeedBatch {
  /** Position before the batch: for every partition, the offset of its first event here (or `to` if none). */
  readonly from: readonly number[];
  /** Position after the batch. */
  readonly to: readonly number[];
  /** `to`, formatted: the position every message of this batch carries. */
  readonly position: string;
  /** Sum of `from`: strictly increasing from one batch to the next (each holds at least one event). */
  readonly fromTotal: number;
  /** The unfiltered message, built with the batch: almost every batch has an unfiltered client. */
  readonly #all: FeedMessage;
  /** Byte range of each event's JSON inside `#all` (filtered messages are copied out of it). */
  readonly #starts: Uint32Array;
  readonly #ends: Uint32Array;
  readonly #headBytes: number;
  readonly #keys: EventKeys;
  readonly #messages = new Map<string, FeedMessage | null>();
  #bytes = 0;
  #onGrow: ((bytes: number) => void) | null = null;

  constructor(from: readonly number[], to: readonly number[], events: readonly EventEnvelope[]) {
    this.from = from;
    this.to = to;
    this.position = formatPosition(to);
    this.fromTotal = from.reduce((a, b) => a + b, 0);
    this.#keys = new EventKeys(
      events.map((e) => e.aggregateType),
      events.map((e) => e.stream),
    );
    // Why keep a Buffer and byte ranges rather than each event's JSON string: retained batches (the replay
    // buffer) would otherwise keep tens of thousands of strings alive in the old generation, which every
    // major GC walks; a Buffer is one object outside the heap, and the strings die young.
    const json = events.map(eventJson);
    this.#all = buildMessage(this.position, json);
    this.#headBytes = messageHead(this.position).length;
    this.#starts = new Uint32Array(json.length);
    this.#ends = new Uint32Array(json.length);
    let at = this.#headBytes;
    for (let i = 0; i < json.length; i++) {
      this.#starts[i] = at;
      at += Buffer.byteLength(json[i]!);
      this.#ends[i] = at;
      at += 1; // the comma
    }
    this.#bytes = this.#all.data.length + events.length * PER_EVENT_OVERHEAD;
  }

  /** Events in the batch (before any filter). */
  get size(): number {
    return this.#starts.length;
  }

  /** Memory held: the messages built so far and the per-event bookkeeping. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Reports later growth (messages built for new filters) to whoever holds the batch; null to stop. */
  track(onGrow: ((bytes: number) => void) | null): void {
    this.#onGrow = onGrow;
  }

  /** The message for `filter`, built on first use and shared afterwards; null when no event matches. */
  message(filter: FeedFilter): FeedMessage | null {
    if (isUnfiltered(filter)) return this.#all;
    const key = filterKey(filter);
    let m = this.#messages.get(key);
    if (m !== undefined) return m;
    m = this.#build(filter);
    this.#messages.set(key, m);
    if (m) {
      this.#bytes += m.data.length;
      this.#onGrow?.(m.data.length);
    }
    return m;
  }

  /** The events that pass `filter`, copied out of the unfiltered message (same head, same position). */
  #build(filter: FeedFilter): FeedMessage | null {
    const picked = this.#keys.matching(filter);
    if (picked.length === 0) return null;
    const all = this.#all.data;
    const parts: Buffer[] = [all.subarray(0, this.#headBytes)];
    let length = this.#headBytes + TAIL.length;
    for (const i of picked) {
      if (parts.length > 1) {
        parts.push(COMMA);
        length++;
      }
      parts.push(all.subarray(this.#starts[i]!, this.#ends[i]!));
      length += this.#ends[i]! - this.#starts[i]!;
    }
    parts.push(TAIL);
    return { data: Buffer.concat(parts, length), events: picked.length };
  }
}
