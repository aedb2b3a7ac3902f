/**
 * Child process of the feed suite: `clients` WebSocket clients on `url`, each checking, event by event,
 * that offsets arrive in order with no gap per partition, and stamping the arrival time of sampled events
 * (offset % sample === 0). Prints `{"ready":true}` once every client got its hello; on "stop" (stdin)
 * prints the counts and samples as one JSON line and exits ("mark" and "lap" measure its CPU time).
 *
 * A message is a batch (`{"kind":"events","position":...,"events":[...]}`); every event in it arrives at
 * the same moment. The clients share the machine's two cores with the server, and the figure is about the
 * server, so reading must cost them as little as possible while still accounting for every event:
 * - each event's `partition` and `offset` are found with indexOf on the bytes, not JSON.parse (the
 *   envelope writes `"partition":N,"offset":M` after `data`; the bench's Deposits have no such key in
 *   their data). After one pair the search resumes 100 bytes on: no envelope is shorter (its fixed keys
 *   and 24-character timestamp alone are longer), and a skipped event would show up as a gap, not hide;
 * - clients that receive byte-identical messages share the scan: the list of (partition, offset) pairs is
 *   cached per message, and another client reuses it only after `Buffer.equals` over the whole message.
 *   Each client then runs its own per-event accounting over the pairs (order, gaps, duplicates, samples).
 */
import { performance, PerformanceObserver } from 'node:perf_hooks';
import WebSocket from 'ws';

const [url, clientsArg, sampleArg] = process.argv.slice(2);
const clients = Number(clientsArg);
const sample = Number(sampleArg);
const now = (): number => performance.timeOrigin + performance.now();

interface ClientState {
  next: number[];
  received: number;
  gaps: number;
  duplicates: number;
  closed: number | null;
  /** [partition, offset, arrival ms] triples, flattened. */
  samples: number[];
}

const PARTITION = Buffer.from('"partition":');
const OFFSET_KEY = ',"offset":'.length;
/** Fewer bytes than any envelope from one `"partition":` key to the next. */
const MIN_ENVELOPE = 100;
const HELLO = Buffer.from('{"kind":"hello"');
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

/** Recently scanned messages by position (the unfiltered clients all get the same batches), bounded. */
const scanned = new Map<string, { data: Buffer; pairs: Float64Array }>();
const MAX_SCANNED = 256;

function pairsOf(data: Buffer): Float64Array {
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

const states: ClientState[] = [];
let hellos = 0;
for (let c = 0; c < clients; c++) {
  const st: ClientState = { next: [], received: 0, gaps: 0, duplicates: 0, closed: null, samples: [] };
  // Every fifth client stamps arrivals: enough samples for a p99, a report small enough to print.
  const sampling = c % 5 === 0;
  states.push(st);
  // No UTF-8 check of every text frame: the clients only read ASCII keys and digits, and the check is
  // client work (a tenth of this process's time) that would come out of the server's share of the cores.
  const ws = new WebSocket(`${url}/feed`, { skipUTF8Validation: true });
  ws.on('message', (data: Buffer) => {
    const arrived = sampling ? now() : 0;
    if (data.subarray(0, HELLO.length).equals(HELLO)) {
      const pos = /"position":"([0-9.]+)"/.exec(data.toString('latin1'))?.[1] ?? '';
      st.next = pos.split('.').map(Number);
      if (++hellos === clients) console.log(JSON.stringify({ ready: true }));
      return;
    }
    if (!data.subarray(0, EVENTS.length).equals(EVENTS)) return;
    const pairs = pairsOf(data);
    for (let k = 0; k < pairs.length; k += 2) {
      const p = pairs[k]!;
      const o = pairs[k + 1]!;
      const expected = st.next[p] ?? 0;
      if (o < expected) st.duplicates++;
      else {
        if (o > expected) st.gaps += o - expected;
        st.next[p] = o + 1;
        st.received++;
        if (sampling && o % sample === 0) st.samples.push(p, o, arrived);
      }
    }
  });
  ws.on('close', (code) => (st.closed = code));
  ws.on('error', () => undefined);
}

// "mark" starts a CPU and GC measurement, "lap" prints the CPU ms (user + system) this process used
// since, and its longest GC pause.
let mark = process.cpuUsage();
let gcMaxMs = 0;
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcMaxMs = Math.max(gcMaxMs, e.duration);
}).observe({ entryTypes: ['gc'] });
process.stdin.on('data', (d) => {
  const command = d.toString();
  if (command.includes('mark')) {
    mark = process.cpuUsage();
    gcMaxMs = 0;
  }
  if (command.includes('lap')) {
    const u = process.cpuUsage(mark);
    console.log(JSON.stringify({ cpuMs: (u.user + u.system) / 1000, gcMaxMs }));
  }
  if (!command.includes('stop')) return;
  // Write, then exit once it is flushed: process.exit() right after a large write to a pipe drops it.
  process.stdout.write(
    JSON.stringify({
      received: states.map((s) => s.received),
      gaps: states.reduce((n, s) => n + s.gaps, 0),
      duplicates: states.reduce((n, s) => n + s.duplicates, 0),
      closed: states.filter((s) => s.closed !== null).map((s) => s.closed),
      samples: states.map((s) => s.samples),
    }) + '\n',
    () => process.exit(0),
  );
});
