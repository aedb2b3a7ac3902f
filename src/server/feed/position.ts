/**
 * Feed positions. A position is the vector of "next offset to send" per partition, written as decimal
 * offsets joined by dots (`"12.0.7.3"` for 4 partitions). Every feed message carries the position just
 * after it; a client that reconnects with `?from=<that position>` gets exactly the events it has not seen:
 * no gap, no duplicate, because each partition's log is totally ordered and offsets are never reused.
 *
 * Besides a vector, `from` accepts `start` (every partition from offset 0) and `now` (the current heads:
 * only events committed after the handshake). No `from` means `now`.
 *
 * Gotchas: a position is only meaningful for the data dir (and partition count) it came from; one with
 * another length or an offset past the head is rejected, never clamped, so a client pointed at a wiped or
 * different log finds out instead of silently skipping.
 */
import { ErrorCodes, RuntimeError } from '../../kernel/index.js';

export function formatPosition(next: readonly number[]): string {
  return next.join('.');
}

/** Parses `from` against the current heads (the next offset of each partition). */
export function parsePosition(from: string | undefined, heads: readonly number[]): number[] {
  if (from === undefined || from === 'now') return [...heads];
  if (from === 'start') return heads.map(() => 0);
  const parts = from.split('.');
  if (parts.length !== heads.length || !parts.every((p) => /^(0|[1-9]\d{0,15})$/.test(p))) {
    throw invalid(`from must be 'start', 'now' or ${heads.length} offsets joined by dots (a position from an earlier feed message)`);
  }
  const next = parts.map(Number);
  next.forEach((offset, p) => {
    if (!Number.isSafeInteger(offset) || offset > heads[p]!) throw invalid(`from is ahead of the log: partition ${p} has ${heads[p]} events, position says ${offset}`);
  });
  return next;
}

function invalid(message: string): RuntimeError {
  return new RuntimeError(ErrorCodes.InvalidQuery, message);
}
