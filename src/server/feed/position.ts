/**
 * Where a feed subscription starts. A position (kernel/position.ts: the next offset of every partition,
 * `"12.0.7.3"` for 4 partitions) is carried by every feed message, just after its last event; a client
 * that reconnects with `?from=<that position>` gets exactly the events it has not seen: no gap, no
 * duplicate, because each partition's log is totally ordered and offsets are never reused.
 *
 * Besides a position, `from` accepts `start` (every partition from offset 0) and `now` (the current heads:
 * only events committed after the handshake). No `from` means `now`.
 *
 * Gotchas: a position is only meaningful for the data dir (and partition count) it came from; one with
 * another length or an offset past the head is rejected, never clamped, so a client pointed at a wiped or
 * different log finds out instead of silently skipping.
 */
import { ErrorCodes, RuntimeError, parsePosition } from '../../kernel/index.js';

/** The next offset of each partition to send, for `from` against the current heads (the next offset of each partition). */
export function resolveFrom(from: string | undefined, heads: readonly number[]): number[] {
  if (from === undefined || from === 'now') return [...heads];
  if (from === 'start') return heads.map(() => 0);
  const next = parsePosition(from, heads.length, 'from', ['start', 'now']);
  next.forEach((offset, p) => {
    if (offset > heads[p]!) throw new RuntimeError(ErrorCodes.InvalidQuery, `from is ahead of the log: partition ${p} has ${heads[p]} events, position says ${offset}`);
  });
  return next;
}
