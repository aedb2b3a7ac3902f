/**
 * What a feed filter looks at in a run of encoded events: each event's aggregate type and stream, kept
 * beside the encoded bytes so a filtered message can be cut out of the shared one without decoding it.
 * Live batches (batch.ts) and catch-up chunks (encoded-chunk.ts) both hold one.
 */

export interface FeedFilter {
  /** Only events of this aggregate type. */
  aggregateType?: string;
  /** Only events of this stream (aggregate id). */
  stream?: string;
}

export function matches(filter: FeedFilter, aggregateType: string, stream: string): boolean {
  return (filter.aggregateType === undefined || filter.aggregateType === aggregateType) && (filter.stream === undefined || filter.stream === stream);
}

export function isUnfiltered(filter: FeedFilter): boolean {
  return filter.aggregateType === undefined && filter.stream === undefined;
}

/** A filter as a map key. */
export function filterKey(f: FeedFilter): string {
  return `${f.aggregateType ?? ''}\u0000${f.stream ?? ''}`;
}

export class EventKeys {
  readonly types: readonly string[];
  readonly streams: readonly string[];
  #byStream: Map<string, number[]> | null = null;

  constructor(types: readonly string[], streams: readonly string[]) {
    this.types = types;
    this.streams = streams;
  }

  /** Indexes (ascending) of the events that pass `filter`. */
  matching(filter: FeedFilter): number[] {
    // Clients filtering by stream are typically many, each with its own stream: index the run once.
    const candidates = filter.stream !== undefined ? (this.#streamIndex().get(filter.stream) ?? []) : null;
    const out: number[] = [];
    if (candidates) {
      for (const i of candidates) if (matches(filter, this.types[i]!, this.streams[i]!)) out.push(i);
    } else {
      for (let i = 0; i < this.types.length; i++) if (matches(filter, this.types[i]!, this.streams[i]!)) out.push(i);
    }
    return out;
  }

  #streamIndex(): Map<string, number[]> {
    if (this.#byStream) return this.#byStream;
    const index = new Map<string, number[]>();
    this.streams.forEach((s, i) => {
      const list = index.get(s);
      if (list) list.push(i);
      else index.set(s, [i]);
    });
    return (this.#byStream = index);
  }
}
