/** Reads every adapter answers the same way from its own primitives. */
import { ErrorCodes, RuntimeError } from '../kernel/index.js';
import { EVENT_PAGE } from './event-page.js';
import type { Evolve, FoldResult, LogReader } from './port.js';
import { corruptRecord } from './record-codec.js';
import type { StoredEvent } from './stored-event.js';

/** The first `limit` items of an iterable (a page of a stream or a partition). */
export function take<T>(items: Iterable<T>, limit: number): T[] {
  const out: T[] = [];
  if (limit <= 0) return out;
  for (const item of items) {
    out.push(item);
    if (out.length >= limit) break;
  }
  return out;
}

/**
 * The last seq of a stream whose ts <= `at` (0 when it had no event yet at that time), from a reader's
 * head and single-event reads: ts never decreases within a stream, so a binary search. Shared by the adapters.
 */
export function versionAt(log: Pick<LogReader, 'streamHead' | 'readEvent' | 'streamStart'>, aggregateType: string, id: string, at: number): number {
  // Below the stream's start nothing is stored (scavenged): the answer is at least start - 1 (gone for reads).
  let lo = log.streamStart(aggregateType, id) - 1;
  let hi = log.streamHead(aggregateType, id).version;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    const e = log.readEvent(aggregateType, id, mid);
    if (e && e.ts <= at) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/**
 * A fold asked to start before what a scavenge left of a stream (docs/data-lifecycle.md, "Scavenge"):
 * `Gone`, naming the first seq still stored. Only a fold without a usable snapshot meets it (one whose
 * decider's `snapshotVersion` changed after the scavenge, say).
 */
export function scavenged(aggregateType: string, id: string, start: number): RuntimeError {
  return new RuntimeError(
    ErrorCodes.Gone,
    `${aggregateType} ${id}: events before version ${start} were removed by a scavenge, and no snapshot at version ${start - 1} or later of the decider's current snapshotVersion is stored to start from`,
    { type: aggregateType, id, firstVersion: start, scavenged: true },
  );
}

/**
 * A part of a page worth folding from the page rather than event by event: decoding a 64-event page
 * costs about as much as reading this many single events (each a cursor step, a checksum and a decode).
 */
export const PAGE_PART_MIN = 8;

/** The first seq of the page that holds `seq`. */
export function pageStart(seq: number): number {
  return seq - ((seq - 1) % EVENT_PAGE);
}

/**
 * Folds events `lo..hi` of one decoded page (EVENT_PAGE stored events from seq `first`; by default all
 * of them) into `out`: hydration's step over a page, the same in every adapter. A snapshot's tail
 * usually starts inside a page, and a time-machine fold may end inside one. `key` names the record if
 * it is no page.
 */
export function foldPage<S>(out: FoldResult<S>, page: StoredEvent[], first: number, evolve: Evolve<S>, key: unknown, lo = first, hi = first + EVENT_PAGE - 1): void {
  if (!Array.isArray(page) || page.length !== EVENT_PAGE) throw corruptRecord('pages', key, `not a page of ${EVENT_PAGE} events`);
  for (let i = lo - first; i <= hi - first; i++) {
    const r = page[i]!;
    out.state = evolve(out.state, { type: r[0], data: r[1] }, r[6]);
  }
  const n = hi - lo + 1;
  out.version = hi;
  out.ts = page[hi - first]![2];
  out.folded += n;
  out.paged += n;
}
