/**
 * Child process of the feed suite: `clients` WebSocket clients on `url`, each checking that offsets
 * arrive in order with no gap per partition, and stamping the arrival time of sampled events
 * (offset % sample === 0). Prints `{"ready":true}` once every client got its hello; on "stop" (stdin)
 * prints the counts and samples as one JSON line and exits.
 *
 * Clients read `partition` and `offset` with indexOf instead of JSON.parse: the clients share the
 * machine's two cores with the server, and the figure is about the server.
 */
import { performance } from 'node:perf_hooks';
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

function field(text: string, name: string): number {
  const i = text.indexOf(`"${name}":`);
  if (i < 0) return -1;
  return parseInt(text.slice(i + name.length + 3, i + name.length + 20), 10);
}

const states: ClientState[] = [];
let hellos = 0;
for (let c = 0; c < clients; c++) {
  const st: ClientState = { next: [], received: 0, gaps: 0, duplicates: 0, closed: null, samples: [] };
  // Every fifth client stamps arrivals: enough samples for a p99, a report small enough to print.
  const sampling = c % 5 === 0;
  states.push(st);
  const ws = new WebSocket(`${url}/feed`);
  ws.on('message', (data: Buffer) => {
    const text = data.toString();
    if (text.startsWith('{"kind":"hello"')) {
      const pos = /"position":"([0-9.]+)"/.exec(text)?.[1] ?? '';
      st.next = pos.split('.').map(Number);
      if (++hellos === clients) console.log(JSON.stringify({ ready: true }));
      return;
    }
    if (!text.startsWith('{"kind":"event"')) return;
    const p = field(text, 'partition');
    const o = field(text, 'offset');
    const expected = st.next[p] ?? 0;
    if (o < expected) st.duplicates++;
    else {
      if (o > expected) st.gaps += o - expected;
      st.next[p] = o + 1;
      st.received++;
      if (sampling && o % sample === 0) st.samples.push(p, o, now());
    }
  });
  ws.on('close', (code) => (st.closed = code));
  ws.on('error', () => undefined);
}

process.stdin.on('data', (d) => {
  if (!d.toString().includes('stop')) return;
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
