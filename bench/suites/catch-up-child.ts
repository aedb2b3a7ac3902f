/**
 * Child process of the catch-up suite: `clients` WebSocket clients open `url/feed?from=start` at once and
 * each checks, event by event, that offsets arrive in order with no gap and no duplicate per partition
 * (bench/support/feed-tally.ts). A client has caught up once its position reaches `heads` (the log's
 * heads when the suite spawned this process) on every partition; live events that follow are counted
 * too but not timed. A client the server closes as too slow (4008: paused for too long, which happens when
 * this process gets too little CPU to read its sockets) reconnects with `from=<its position>`, as the feed
 * asks clients to. Prints `{"ready":true}` once loaded, opens the clients when a line arrives on stdin,
 * prints `{"connected":n}` once every first handshake is answered, then, when every
 * client caught up or closed otherwise, one JSON line: per client the time from its first hello to
 * caught-up, events and bytes received by then; gaps, duplicates, reconnections, other close codes, and
 * this process's CPU time. Then exits.
 */
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { FeedTally, HELLO, pairsOf } from '../support/feed-tally.js';

const [url, clientsArg, headsArg] = process.argv.slice(2);
const clients = Number(clientsArg);
const heads = headsArg!.split('.').map(Number);
const cpu0 = process.cpuUsage();
/** The feed's close code for a client paused too long (src/server/feed/client.ts). */
const SLOW_CONSUMER = 4008;

interface ClientState {
  tally: FeedTally;
  bytes: number;
  helloAt: number;
  /** ms from hello to caught up; null while catching up. */
  caughtUpMs: number | null;
  eventsAtCaughtUp: number;
  bytesAtCaughtUp: number;
  closed: number | null;
  reconnects: number;
}

const states: ClientState[] = [];
let connected = 0;
let finished = 0;
let firstHello = Number.POSITIVE_INFINITY;
let lastCaughtUp = 0;

function caughtUp(t: FeedTally): boolean {
  for (let p = 0; p < heads.length; p++) if ((t.next[p] ?? 0) < heads[p]!) return false;
  return true;
}

function finish(): void {
  if (++finished < clients) return;
  const u = process.cpuUsage(cpu0);
  process.stdout.write(
    JSON.stringify({
      clients: states.map((s) => ({ ms: s.caughtUpMs, events: s.eventsAtCaughtUp, bytes: s.bytesAtCaughtUp })),
      wallMs: lastCaughtUp - firstHello,
      gaps: states.reduce((n, s) => n + s.tally.gaps, 0),
      duplicates: states.reduce((n, s) => n + s.tally.duplicates, 0),
      closed: states.filter((s) => s.closed !== null && s.caughtUpMs === null).map((s) => s.closed),
      reconnects: states.reduce((n, s) => n + s.reconnects, 0),
      cpuMs: (u.user + u.system) / 1000,
    }) + '\n',
    () => process.exit(0),
  );
}

/** Opens (or reopens, from where it stopped) one client's socket. */
function open(st: ClientState): void {
  const from = st.helloAt === 0 ? 'start' : st.tally.next.join('.');
  // No UTF-8 check of each frame: clients read ASCII keys and digits only (see feed-child.ts).
  const ws = new WebSocket(`${url}/feed?from=${from}`, { skipUTF8Validation: true });
  ws.on('message', (data: Buffer) => {
    if (data.subarray(0, HELLO.length).equals(HELLO)) {
      if (st.helloAt !== 0) return;
      st.helloAt = performance.now();
      firstHello = Math.min(firstHello, st.helloAt);
      st.tally.next = heads.map(() => 0);
      if (++connected === clients) console.log(JSON.stringify({ connected }));
      return;
    }
    const pairs = pairsOf(data);
    if (!pairs) return;
    st.tally.add(pairs);
    st.bytes += data.length;
    if (st.caughtUpMs === null && caughtUp(st.tally)) {
      const now = performance.now();
      st.caughtUpMs = now - st.helloAt;
      st.eventsAtCaughtUp = st.tally.received;
      st.bytesAtCaughtUp = st.bytes;
      lastCaughtUp = Math.max(lastCaughtUp, now);
      finish();
    }
  });
  ws.on('close', (code) => {
    if (st.caughtUpMs !== null) return;
    if (code === SLOW_CONSUMER && st.helloAt !== 0) {
      st.reconnects++;
      return open(st);
    }
    st.closed = code;
    finish();
  });
  ws.on('error', () => undefined);
}

// Started (node and tsx loaded, which costs a second of CPU) before the clients connect: the parent
// measures from "go".
console.log(JSON.stringify({ ready: true }));
process.stdin.once('data', () => {
  for (let c = 0; c < clients; c++) {
    const st: ClientState = { tally: new FeedTally(), bytes: 0, helloAt: 0, caughtUpMs: null, eventsAtCaughtUp: 0, bytesAtCaughtUp: 0, closed: null, reconnects: 0 };
    states.push(st);
    open(st);
  }
});
