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
import type { EventEnvelope } from '../../kernel/index.js';
import { envelopeJson } from '../envelope-json.js';
import { formatPosition } from './position.js';

export interface FeedFilter {
  /** Only events of this aggregate type. */
  aggregateType?: string;
  /** Only events of this stream (aggregate id). */
  stream?: string;
}

/** A built message and the number of events it carries (for the sent-events counter). */
export interface FeedMessage {
  readonly data: Buffer;
  readonly events: number;
}

export function eventJson(e: EventEnvelope): string {
  return JSON.stringify(envelopeJson(e));
}

export function matches(filter: FeedFilter, aggregateType: string, stream: string): boolean {
  return (filter.aggregateType === undefined || filter.aggregateType === aggregateType) && (filter.stream === undefined || filter.stream === stream);
}

/** The one place the message shape is written. `position` is a formatted position (digits and dots only). */
export function buildMessage(position: string, eventJsons: readonly string[]): FeedMessage {
  return { data: Buffer.from(`{"kind":"events","position":"${position}","events":[${eventJsons.join(',')}]}`), events: eventJsons.length };
}

function filterKey(f: FeedFilter): string {
  return `${f.aggregateType ?? ''}\u0000${f.stream ?? ''}`;
}

/** Bytes of bookkeeping per event besides its JSON (array slots, the type and stream references). */
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
  readonly #json: string[];
  readonly #types: string[];
  readonly #streams: string[];
  readonly #messages = new Map<string, FeedMessage | null>();
  #byStream: Map<string, number[]> | null = null;
  #bytes = 0;
  #onGrow: ((bytes: number) => void) | null = null;

  constructor(from: readonly number[], to: readonly number[], events: readonly EventEnvelope[]) {
    this.from = from;
    this.to = to;
    this.position = formatPosition(to);
    this.fromTotal = from.reduce((a, b) => a + b, 0);
    this.#json = events.map(eventJson);
    this.#types = events.map((e) => e.aggregateType);
    this.#streams = events.map((e) => e.stream);
    for (const j of this.#json) this.#bytes += j.length + PER_EVENT_OVERHEAD;
  }

  /** Events in the batch (before any filter). */
  get size(): number {
    return this.#json.length;
  }

  /** Memory held: event JSON and every message built so far. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Reports later growth (messages built for new filters) to whoever holds the batch; null to stop. */
  track(onGrow: ((bytes: number) => void) | null): void {
    this.#onGrow = onGrow;
  }

  /** The message for `filter`, built on first use and shared afterwards; null when no event matches. */
  message(filter: FeedFilter): FeedMessage | null {
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

  #build(filter: FeedFilter): FeedMessage | null {
    if (filter.aggregateType === undefined && filter.stream === undefined) return buildMessage(this.position, this.#json);
    // Clients filtering by stream are typically many, each with its own stream: index the batch once.
    const candidates = filter.stream !== undefined ? (this.#streamIndex().get(filter.stream) ?? []) : null;
    const picked: string[] = [];
    const consider = (i: number): void => {
      if (matches(filter, this.#types[i]!, this.#streams[i]!)) picked.push(this.#json[i]!);
    };
    if (candidates) candidates.forEach(consider);
    else for (let i = 0; i < this.#json.length; i++) consider(i);
    return picked.length ? buildMessage(this.position, picked) : null;
  }

  #streamIndex(): Map<string, number[]> {
    if (this.#byStream) return this.#byStream;
    const index = new Map<string, number[]>();
    this.#streams.forEach((s, i) => {
      const list = index.get(s);
      if (list) list.push(i);
      else index.set(s, [i]);
    });
    return (this.#byStream = index);
  }
}
