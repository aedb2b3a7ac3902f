/**
 * The cluster figures' HTTP client, a process of its own (spawned by suites/cluster.ts): never inside
 * a server it measures.
 *
 *   node --import tsx bench/suites/cluster-client.ts '<json ClientConfig>'
 *
 * Every command carries a `commandId`, as cluster mode asks of clients (docs/cluster.md, Forwarding):
 * a 503 (a handover, a forward that timed out), a connection refused or reset, or no answer within
 * `timeoutMs` is retried after `retryDelayMs` with the **same** commandId, through the next server; a
 * command counts once, when a 2xx answers it.
 * - `open`: one `Open` per account (commandId `open-<account>`), `connections` at once: the accounts
 *   exist (and their first touches are paid) before anything is measured.
 * - `load`: a closed loop of `connections` callers for `seconds`, the callers spread over `urls` (caller
 *   i always through server i mod n), Deposits of 1 round-robin over the accounts. Latency is from a
 *   command's first send to its 2xx (retries included).
 * - `failover`: one caller per account in `accounts` (the suite picks accounts on the partitions of
 *   the server it will kill), each sending Deposits one after the other through `urls` (the survivors,
 *   in turn). After the first line `ready` (once every caller had a 2xx), the suite kills the owner and
 *   writes `killed <epoch ms>` to stdin; each 2xx whose last attempt was sent after that time is the
 *   caller's "accepted again". Ends once every caller has one, or `seconds` after the kill.
 * Prints one JSON line (LoadReport or FailoverReport).
 */
import { Agent, request } from 'node:http';
import { createInterface } from 'node:readline';

export interface ClientConfig {
  mode: 'open' | 'load' | 'failover';
  urls: string[];
  accounts: string[];
  connections: number;
  seconds: number;
  /** Distinguishes this run's command ids from earlier runs' on the same accounts. */
  runId: string;
  retryDelayMs: number;
  timeoutMs: number;
}

export interface LoadReport {
  ok: number;
  durationS: number;
  p50ms: number;
  p99ms: number;
  /** Attempts answered 503 (then retried). */
  retried503: number;
  /** Attempts that failed without an answer (refused, reset, client timeout; then retried). */
  retriedErrors: number;
  /** Answers other than 2xx and 503 (not retried: the command failed). */
  failed: number;
  firstFailure: string | null;
  clientCpuUs: number;
}

export interface FailoverReport {
  /** Per account: epoch ms of the first 2xx whose last attempt was sent after the kill (null: none in time). */
  acceptedAgain: Record<string, number | null>;
  killedAt: number;
  retried503: number;
  retriedErrors: number;
  failed: number;
  firstFailure: string | null;
}

const config = JSON.parse(process.argv[2] ?? '') as ClientConfig;
const wallNow = (): number => performance.timeOrigin + performance.now();
const agents = config.urls.map(() => new Agent({ keepAlive: true, maxSockets: Math.max(1, Math.ceil(config.connections / config.urls.length)) + 4 }));
const stats = { retried503: 0, retriedErrors: 0, failed: 0, firstFailure: null as string | null };

interface Answer {
  status: number;
  body: string;
}

function post(server: number, path: string, body: string): Promise<Answer> {
  const url = new URL(path, config.urls[server]!);
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', agent: agents[server]!, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }, timeout: config.timeoutMs }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${config.timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * Sends one command until a 2xx (true) or a refusal that is not retriable (false), retrying through
 * the next server each time. `onAttempt` hears each attempt's send time.
 */
async function send(firstServer: number, account: string, body: string, onAttempt?: (sentAt: number) => void): Promise<boolean> {
  let server = firstServer;
  for (;;) {
    onAttempt?.(wallNow());
    try {
      const a = await post(server, `/aggregates/account/${account}/commands`, body);
      if (a.status >= 200 && a.status < 300) return true;
      if (a.status !== 503) {
        stats.failed++;
        stats.firstFailure ??= `${a.status} ${a.body.slice(0, 300)}`;
        return false;
      }
      stats.retried503++;
    } catch (err) {
      stats.retriedErrors++;
      if (stats.retriedErrors === 1) stats.firstFailure ??= `retried: ${(err as Error).message}`;
    }
    if (done) return false;
    await new Promise((r) => setTimeout(r, config.retryDelayMs));
    server = (server + 1) % config.urls.length;
  }
}

const deposit = (commandId: string): string => JSON.stringify({ type: 'Deposit', data: { amount: 1 }, commandId });
let done = false;

async function openAll(): Promise<LoadReport> {
  const t0 = performance.now();
  let next = 0;
  let ok = 0;
  const caller = async (c: number): Promise<void> => {
    while (next < config.accounts.length) {
      const account = config.accounts[next++]!;
      const body = JSON.stringify({ type: 'Open', data: { owner: 'bench' }, commandId: `open-${account}` });
      if (await send(c % config.urls.length, account, body)) ok++;
    }
  };
  await Promise.all(Array.from({ length: config.connections }, (_, c) => caller(c)));
  return { ok, durationS: (performance.now() - t0) / 1000, p50ms: 0, p99ms: 0, ...stats, clientCpuUs: 0 };
}

async function load(): Promise<LoadReport> {
  const cpu0 = process.cpuUsage();
  const latencies: number[] = [];
  let n = 0;
  const until = performance.now() + config.seconds * 1000;
  const t0 = performance.now();
  const caller = async (c: number): Promise<void> => {
    while (performance.now() < until) {
      const i = n++;
      const account = config.accounts[i % config.accounts.length]!;
      const s = performance.now();
      if (await send(c % config.urls.length, account, deposit(`${config.runId}-${i}`))) latencies.push(performance.now() - s);
    }
  };
  await Promise.all(Array.from({ length: config.connections }, (_, c) => caller(c)));
  const durationS = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  latencies.sort((a, b) => a - b);
  const q = (p: number): number => latencies[Math.min(latencies.length - 1, Math.max(0, Math.ceil(p * latencies.length) - 1))] ?? Number.NaN;
  return { ok: latencies.length, durationS, p50ms: q(0.5), p99ms: q(0.99), ...stats, clientCpuUs: cpu.user + cpu.system };
}

async function failover(): Promise<FailoverReport> {
  let killedAt: number | null = null;
  let killed!: () => void;
  const killedP = new Promise<void>((r) => (killed = r));
  createInterface({ input: process.stdin }).on('line', (line) => {
    const m = /^killed (\d+(?:\.\d+)?)$/.exec(line.trim());
    if (m) {
      killedAt = Number(m[1]);
      killed();
    }
  });
  const acceptedAgain: Record<string, number | null> = Object.fromEntries(config.accounts.map((a) => [a, null]));
  const warmed = new Set<string>();
  let signalledReady = false;
  let i = 0;
  const caller = async (account: string, c: number): Promise<void> => {
    while (!done) {
      let lastSent = 0;
      const ok = await send(c % config.urls.length, account, deposit(`${config.runId}-${i++}`), (t) => (lastSent = t));
      const at = wallNow();
      if (!ok) continue;
      warmed.add(account);
      if (!signalledReady && warmed.size === config.accounts.length) {
        signalledReady = true;
        process.stdout.write('ready\n');
      }
      if (killedAt !== null && lastSent > killedAt && acceptedAgain[account] === null) {
        acceptedAgain[account] = at;
        if (Object.values(acceptedAgain).every((v) => v !== null)) done = true;
      }
    }
  };
  const callers = Promise.all(config.accounts.map((a, c) => caller(a, c)));
  await killedP;
  const deadline = setTimeout(() => (done = true), config.seconds * 1000);
  await callers;
  clearTimeout(deadline);
  return { acceptedAgain, killedAt: killedAt!, ...stats };
}

const report = config.mode === 'open' ? await openAll() : config.mode === 'load' ? await load() : await failover();
done = true;
for (const a of agents) a.destroy();
process.stdout.write(`${JSON.stringify(report)}\n`);
process.exit(0);
