/**
 * Log positions: the one format for "how far into the log", shared by every route that takes or gives
 * one (the feed's `position` and `?from=`, a command answer's `position`, the views' `?position=`).
 *
 * A position is the vector of the **next offset** of every partition: entry `p` says every event of
 * partition `p` below that offset is included. Written as decimal offsets joined by dots, one per
 * partition (`"12.0.7.3"` for 4 partitions). Positions are compared entry by entry: a view has reached a
 * position when its checkpoint of every partition is at or past the entry; a feed resumes from one with no
 * gap and no duplicate because each partition's log is totally ordered and offsets are never reused.
 * The position just after one event (what a command answer carries) is zero everywhere but in the
 * event's partition, where it is the event's offset + 1.
 *
 * The older `<partition>:<offset>` spelling (the offset of one event, what command answers carried
 * before) is still read, as the position just after that event.
 *
 * Gotchas:
 * - A position is only meaningful for the data dir (and partition count) it came from; one with another
 *   length is refused (InvalidQuery), never padded or cut, so a client pointed at another log finds out.
 * - Its length grows with the partition count (about two bytes per partition).
 * - The vector holds *next* offsets (one past the last event included), the `<p>:<o>` spelling an event's
 *   own offset: mixing the two is an off-by-one.
 */
import { ErrorCodes, RuntimeError } from './errors.js';

/** The next offset of every partition (index = partition). */
export type LogPosition = readonly number[];

/** One event's place in the log: its partition and its offset there (as in `EventEnvelope`). */
export interface EventPosition {
  readonly partition: number;
  readonly offset: number;
}

const OFFSET = /^(?:0|[1-9]\d{0,15})$/;
const EVENT_FORM = /^(\d{1,6}):(\d{1,15})$/;

/** The text form: offsets joined by dots. */
export function formatPosition(next: LogPosition): string {
  return next.join('.');
}

/** The position just after `event`: its partition's entry is `offset + 1`, every other entry 0. */
export function positionAfter(event: EventPosition, partitions: number): number[] {
  const next = new Array<number>(partitions).fill(0);
  next[event.partition] = event.offset + 1;
  return next;
}

/** `formatPosition(positionAfter(event, partitions))`, without the array (command answers build one each). */
export function formatPositionAfter(event: EventPosition, partitions: number): string {
  return `${'0.'.repeat(event.partition)}${event.offset + 1}${'.0'.repeat(partitions - event.partition - 1)}`;
}

/**
 * Parses a position for a log of `partitions` partitions: `partitions` offsets joined by dots, or the
 * older `<partition>:<offset>` of one event. Anything else is `InvalidQuery`, the message naming the
 * query parameter (`name`) and the caller's own other accepted words (`others`, e.g. the feed's `start`).
 * Whether the position is ahead of the log is the caller's question.
 */
export function parsePosition(text: string, partitions: number, name = 'position', others: readonly string[] = []): number[] {
  const invalid = (why?: string) => invalidPosition(name, others, text, partitions, why);
  const event = EVENT_FORM.exec(text);
  if (event) {
    const partition = Number(event[1]);
    if (partition >= partitions) throw invalid(`there is no partition ${partition}`);
    return positionAfter({ partition, offset: Number(event[2]) }, partitions);
  }
  const parts = text.split('.');
  if (parts.length !== partitions || !parts.every((p) => OFFSET.test(p))) throw invalid();
  const next = parts.map(Number);
  if (!next.every(Number.isSafeInteger)) throw invalid('an offset is too large');
  return next;
}

/** True when `a` includes everything `b` does: every entry of `a` is at or past `b`'s. */
export function positionReached(a: LogPosition, b: LogPosition): boolean {
  for (let p = 0; p < b.length; p++) if ((a[p] ?? 0) < b[p]!) return false;
  return true;
}

function invalidPosition(name: string, others: readonly string[], text: string, partitions: number, why?: string): RuntimeError {
  const forms = [...others.map((o) => `'${o}'`), `${partitions} offsets joined by dots (the \`position\` of a command answer or a feed message)`, '<partition>:<offset> of one event'];
  const expected = `${forms.slice(0, -1).join(', ')} or ${forms[forms.length - 1]}`;
  return new RuntimeError(ErrorCodes.InvalidQuery, `${name} must be ${expected}${why ? ` (${why})` : ''}; got ${JSON.stringify(text.slice(0, 40))}`, { partitions });
}
