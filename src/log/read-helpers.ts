/** Reads every adapter answers the same way from its own primitives. */
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
export function versionAt(log: Pick<LogReader, 'streamHead' | 'readEvent'>, aggregateType: string, id: string, at: number): number {
  let lo = 0;
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
 * Folds one decoded page (EVENT_PAGE stored events from seq `first`) into `out`: hydration's step over a
 * whole page, the same in every adapter. `key` names the record if it is no page.
 */
export function foldPage<S>(out: FoldResult<S>, page: StoredEvent[], first: number, evolve: Evolve<S>, key: unknown): void {
  if (!Array.isArray(page) || page.length !== EVENT_PAGE) throw corruptRecord('pages', key, `not a page of ${EVENT_PAGE} events`);
  for (const r of page) out.state = evolve(out.state, { type: r[0], data: r[1] }, r[6]);
  out.version = first + EVENT_PAGE - 1;
  out.ts = page[EVENT_PAGE - 1]![2];
  out.folded += EVENT_PAGE;
  out.paged += EVENT_PAGE;
}
