/**
 * Child process of the feed suite: `clients` WebSocket clients on `url`, each checking, event by event,
 * that offsets arrive in order with no gap per partition, and stamping the arrival time of sampled events
 * (offset % sample === 0). Prints `{"ready":true}` once every client got its hello; on "stop" (stdin)
 * prints the counts and samples as one JSON line and exits ("mark" and "lap" measure its CPU time).
 *
 * A message is a batch (`{"kind":"events","position":...,"events":[...]}`); every event in it arrives at
 * the same moment. How a message is read and accounted for, cheaply: bench/support/feed-tally.ts.
 */
import { performance, PerformanceObserver } from 'node:perf_hooks';
import WebSocket from 'ws';
import { FeedTally, HELLO, helloPosition, pairsOf } from '../support/feed-tally.js';

const [url, clientsArg, sampleArg] = process.argv.slice(2);
const clients = Number(clientsArg);
const sample = Number(sampleArg);
const now = (): number => performance.timeOrigin + performance.now();

interface ClientState {
  tally: FeedTally;
  closed: number | null;
  /** [partition, offset, arrival ms] triples, flattened. */
  samples: number[];
}

const states: ClientState[] = [];
let hellos = 0;
for (let c = 0; c < clients; c++) {
  const st: ClientState = { tally: new FeedTally(), closed: null, samples: [] };
  // Every fifth client stamps arrivals: enough samples for a p99, a report small enough to print.
  const sampling = c % 5 === 0;
  states.push(st);
  // No UTF-8 check of every text frame: the clients only read ASCII keys and digits, and the check is
  // client work (a tenth of this process's time) that would come out of the server's share of the cores.
  const ws = new WebSocket(`${url}/feed`, { skipUTF8Validation: true });
  ws.on('message', (data: Buffer) => {
    const arrived = sampling ? now() : 0;
    if (data.subarray(0, HELLO.length).equals(HELLO)) {
      st.tally.next = helloPosition(data);
      if (++hellos === clients) console.log(JSON.stringify({ ready: true }));
      return;
    }
    const pairs = pairsOf(data);
    if (!pairs) return;
    st.tally.add(pairs, sampling ? (p, o) => (o % sample === 0 ? st.samples.push(p, o, arrived) : 0) : undefined);
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
      received: states.map((s) => s.tally.received),
      gaps: states.reduce((n, s) => n + s.tally.gaps, 0),
      duplicates: states.reduce((n, s) => n + s.tally.duplicates, 0),
      closed: states.filter((s) => s.closed !== null).map((s) => s.closed),
      samples: states.map((s) => s.samples),
    }) + '\n',
    () => process.exit(0),
  );
});
