/** Reads every adapter answers the same way from its own primitives. */
import type { LogReader } from './port.js';

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
