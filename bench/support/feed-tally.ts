/**
 * What the bench's feed clients (feed-child.ts, catch-up-child.ts) do with each message: account for
 * every event, cheaply. The clients share the machine's two cores with the server, and the figures are
 * about the server, so reading must cost them as little as possible while still checking every event:
 * - each event's `partition` and `offset` are found with indexOf on the bytes, not JSON.parse (the
 *   envelope writes `"partition":N,"offset":M` after `data`; the bench's Deposits have no such key in
 *   their data). After one pair the search resumes 100 bytes on: no envelope is shorter (its fixed keys
 *   and 24-character timestamp alone are longer), and a skipped event would show up as a gap, not hide;
 * - clients that receive byte-identical messages share the scan: the list of (partition, offset) pairs is
 *   cached per message position, and another client reuses it only after `Buffer.equals` over the whole
 *   message. Each client then runs its own per-event accounting over the pairs (order, gaps, duplicates).
 */

const PARTITION = Buffer.from('"partition":');
const OFFSET_KEY = ',"offset":'.length;
/** Fewer bytes than any envelope from one `"partition":` key to the next. */
const MIN_ENVELOPE = 100;
export const HELLO = Buffer.from('{"kind":"hello"');
const EVENTS = Buffer.from('{"kind":"events","position":"');

/** Where the last `intAt` stopped (a module variable, not a tuple: millions of calls a second). */
let intEnd = 0;

/** The decimal integer at byte `i`; stops at the first non-digit (its index is left in `intEnd`). */
function intAt(b: Buffer, i: number): number {
  let v = 0;
  for (let c = b[i]!; c >= 48 && c <= 57; c = b[++i]!) v = v * 10 + (c - 48);
  intEnd = i;
  return v;
}

/** (partition, offset) of every event of a message, in order. */
function scan(data: Buffer): Float64Array {
  const out: number[] = [];
  let i = data.indexOf(PARTITION);
  while (i >= 0) {
    out.push(intAt(data, i + PARTITION.length));
    out.push(intAt(data, intEnd + OFFSET_KEY));
    i = data.indexOf(PARTITION, intEnd + MIN_ENVELOPE);
  }
  return Float64Array.from(out);
}

/** Recently scanned messages by position (clients at the same place get the same messages), bounded. */
const scanned = new Map<string, { data: Buffer; pairs: Float64Array }>();
const MAX_SCANNED = 256;

/** The (partition, offset) pairs of an events message, flattened; null for any other message. */
export function pairsOf(data: Buffer): Float64Array | null {
  if (!data.subarray(0, EVENTS.length).equals(EVENTS)) return null;
  const end = data.indexOf(0x22, EVENTS.length); // the closing quote of the position
  const position = data.toString('latin1', EVENTS.length, end);
  const hit = scanned.get(position);
  if (hit && hit.data.equals(data)) return hit.pairs;
  const pairs = scan(data);
  if (!hit) {
    scanned.set(position, { data, pairs });
    if (scanned.size > MAX_SCANNED) scanned.delete(scanned.keys().next().value!);
  }
  return pairs;
}

/** The position a hello message starts from, as offsets. */
export function helloPosition(data: Buffer): number[] {
  const pos = /"position":"([0-9.]+)"/.exec(data.toString('latin1'))?.[1] ?? '';
  return pos.split('.').map(Number);
}

/** One client's accounting: the next offset it expects per partition, and what it got. */
export class FeedTally {
  next: number[] = [];
  received = 0;
  gaps = 0;
  duplicates = 0;

  /** Counts the events of `pairs`; `onEvent` sees each new one (for sampling). */
  add(pairs: Float64Array, onEvent?: (partition: number, offset: number) => void): void {
    for (let k = 0; k < pairs.length; k += 2) {
      const p = pairs[k]!;
      const o = pairs[k + 1]!;
      const expected = this.next[p] ?? 0;
      if (o < expected) this.duplicates++;
      else {
        if (o > expected) this.gaps += o - expected;
        this.next[p] = o + 1;
        this.received++;
        onEvent?.(p, o);
      }
    }
  }
}
