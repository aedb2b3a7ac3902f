/**
 * The cluster and the clients of the Jepsen-style suite (test/cluster/jepsen.e2e.test.ts): three
 * nats-servers (one JetStream cluster, R3 streams) and eventide servers started as `npm start` starts
 * one (src/server/main.ts, cluster variables set), concurrent clients sending deposits through
 * different servers and recording every attempt (jepsen-history.ts), a sampler of `/partitions`, and
 * the reads the checker (jepsen-checker.ts) works on.
 *
 * Gotchas:
 * - A server restarted keeps its node id and data dir (its cache) but listens on a new port: clients
 *   read `node.url` at each request.
 * - Clients skip a server the test marked `down` (killed or stopping), as a load balancer would, but not
 *   one that is paused (SIGSTOP): requests sent to a zombie are part of what is tested.
 * - Every wait has a deadline and says what it waited for; none decides pass or fail by its length.
 * - `phases` says how long each step took: on a loaded 2-core box, starting a server (tsx, workers,
 *   joining, catching up) is most of a run.
 */
import { randomInt } from 'node:crypto';
import { Kvm } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { idPerPartition } from '../../support/cluster-runtime.js';
import { startNats, type NatsCluster } from '../../support/nats-servers.js';
import { startServer, type ServerChild } from '../../support/server-child.js';
import { makeTempDir, removeDir } from '../../support/temp-dirs.js';
import type { AccountRead, EventView, PartitionSample } from './jepsen-checker.js';
import { classify, History, outcomeOf, type Attempt, type Operation } from './jepsen-history.js';

export const PARTITIONS = 8;
export const LEASE_MS = 2000;
/** A forward to an owner that does not answer (paused) gives up after this: 503 `outcome: "unknown"`. */
const FORWARD_TIMEOUT_MS = 3000;
/** A client gives up on an answer after this (a paused server never answers): the attempt is unknown. */
const CLIENT_TIMEOUT_MS = 6000;

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class Node {
  readonly nodeId: string;
  readonly dataDir: string;
  readonly #env: Record<string, string>;
  child: ServerChild | undefined;
  url = '';
  /** Set by the test while the server is killed, stopping or not started: clients send it nothing. */
  down = true;
  paused = false;

  constructor(nodeId: string, dataDir: string, env: Record<string, string>) {
    this.nodeId = nodeId;
    this.dataDir = dataDir;
    this.#env = env;
  }

  /** Starts (or restarts) the server with the same node id and data dir; resolves once it listens. */
  async start(): Promise<void> {
    if (this.child && this.child.child.exitCode === null && this.child.child.signalCode === null) throw new Error(`${this.nodeId} is still running`);
    this.child = startServer(this.dataDir, { env: { ...this.#env, EVENTIDE_NODE_ID: this.nodeId } });
    this.url = await this.child.listening;
    this.down = false;
  }

  /** Sends `signal`; resolves with the exit code or signal once the process exited. */
  async stop(signal: NodeJS.Signals): Promise<number | string> {
    this.down = true;
    this.paused = false;
    return this.child?.kill(signal) ?? 'not started';
  }

  pause(): void {
    this.paused = true;
    this.child?.child.kill('SIGSTOP');
  }

  resume(): void {
    this.paused = false;
    this.child?.child.kill('SIGCONT');
  }
}

interface PartitionsBody {
  node?: string;
  partitions: { partition: number; served?: boolean; owner?: string; epoch?: number; stopped?: string }[];
}

async function getJson(url: string, timeoutMs = CLIENT_TIMEOUT_MS): Promise<{ status: number; body: Record<string, unknown> | undefined }> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  } catch {
    return { status: 0, body: undefined };
  }
}

export class JepsenCluster {
  readonly nats: NatsCluster;
  readonly nodes: Node[] = [];
  readonly history = new History();
  readonly samples: PartitionSample[] = [];
  /** Two accounts per partition. */
  readonly accounts = [...idPerPartition(PARTITIONS, 'ja'), ...idPerPartition(PARTITIONS, 'jb')];
  readonly #env: Record<string, string>;
  #lastMark = performance.now();
  /** How long each step of the test took (s), for the log line a run prints. */
  readonly phases: [string, number][] = [];
  #opSeq = 0;
  #sampling: Promise<void> | undefined;
  #stopSampling = false;

  private constructor(nats: NatsCluster, group: string) {
    this.nats = nats;
    this.#env = {
      PARTITIONS: String(PARTITIONS),
      WORKERS: '1',
      EVENTIDE_NATS: nats.urls.join(','),
      EVENTIDE_REPLICAS: '3',
      EVENTIDE_GROUP: group,
      EVENTIDE_LEASE_MS: String(LEASE_MS),
      EVENTIDE_FORWARD_TIMEOUT_MS: String(FORWARD_TIMEOUT_MS),
    };
  }

  /** Three nats-servers and `servers` eventide servers, every partition owned and every server agreeing. */
  static async start(label: string, servers = 3): Promise<JepsenCluster> {
    const nats = await startNats(3);
    const cluster = new JepsenCluster(nats, `jepsen${label}${process.pid}`);
    try {
      for (let i = 1; i <= servers; i++) cluster.nodes.push(await cluster.newNode(`s${i}`));
      await Promise.all(cluster.nodes.map((n) => n.start()));
      await cluster.waitForOwners('the first servers to share every partition');
      cluster.#sampling = cluster.#sample();
      cluster.mark('start');
      return cluster;
    } catch (err) {
      await cluster.stop();
      throw err;
    }
  }

  async newNode(nodeId: string): Promise<Node> {
    return new Node(nodeId, await makeTempDir('jepsen'), this.#env);
  }

  /** Writes every server's warnings and errors (stdout lines of level >= 40, and stderr) to a file; answers its path. */
  async dumpLogs(): Promise<string> {
    const path = join(tmpdir(), `eventide-jepsen-${process.pid}-${Math.round(performance.now())}.log`);
    const text = this.nodes
      .map((n) => {
        const lines = (n.child?.stdout() ?? '').split('\n').filter((l) => /"level":([4-6]\d)/.test(l));
        return `=== ${n.nodeId} (${n.down ? 'down' : n.paused ? 'paused' : 'up'}) ===\n${lines.join('\n')}\n--- stderr ---\n${n.child?.stderr() ?? ''}`;
      })
      .join('\n');
    await writeFile(path, `${text}\n=== the group's KV bucket ===\n${await this.#bucketText()}`);
    return path;
  }

  /** Every key of the group's KV bucket (members, leases) with its revision and value, one per line. */
  async #bucketText(): Promise<string> {
    let nc: NatsConnection | undefined;
    try {
      nc = await connect({ servers: this.nats.urls, timeout: 3000 });
      const kv = await new Kvm(nc).open(`eventide-cluster-${this.#env.EVENTIDE_GROUP}`);
      const lines: string[] = [];
      for await (const key of await kv.keys()) {
        const e = await kv.get(key);
        lines.push(`${key} rev ${e?.revision} ${e?.operation} ${e ? new TextDecoder().decode(e.value) : ''}`);
      }
      return lines.sort().join('\n');
    } catch (err) {
      return `could not read it: ${String(err)}`;
    } finally {
      await nc?.close();
    }
  }

  /** Notes that a step of the test ended now (for `phases`). */
  mark(step: string): void {
    const now = performance.now();
    this.phases.push([step, Math.round((now - this.#lastMark) / 100) / 10]);
    this.#lastMark = now;
  }

  live(): Node[] {
    return this.nodes.filter((n) => !n.down);
  }

  async stop(): Promise<void> {
    this.#stopSampling = true;
    await this.#sampling;
    await Promise.allSettled(this.nodes.map((n) => n.stop('SIGKILL')));
    await Promise.allSettled(this.nodes.map((n) => removeDir(n.dataDir)));
    await this.nats.stop();
  }

  /**
   * The owner of each partition, once every live, unpaused server names the same owner for each, that
   * owner is one of them and says it serves it, and every one of them owns at least one partition.
   */
  async waitForOwners(what: string, deadlineMs = 90_000): Promise<string[]> {
    const until = performance.now() + deadlineMs;
    let last = '';
    for (;;) {
      const among = this.nodes.filter((n) => !n.down && !n.paused);
      const views = await Promise.all(among.map(async (n) => (await getJson(`${n.url}/partitions`, 3000)).body as PartitionsBody | undefined));
      const owners = views[0]?.partitions.map((p) => p.owner);
      const agreed =
        owners !== undefined &&
        owners.every((o) => among.some((n) => n.nodeId === o)) &&
        views.every((v, i) => v !== undefined && v.partitions.every((p, k) => p.owner === owners[k] && p.served === (owners[k] === among[i]!.nodeId))) &&
        among.every((n) => owners.includes(n.nodeId));
      if (agreed) {
        this.mark(`owners: ${what}`);
        return owners as string[];
      }
      last = JSON.stringify(views.map((v, i) => ({ via: among[i]!.nodeId, owners: v?.partitions.map((p) => `${p.owner}${p.served ? '*' : ''}@${p.epoch}${p.stopped ? ` stopped: ${p.stopped}` : ''}`) })));
      if (performance.now() > until) throw new Error(`timed out waiting for ${what}; last seen (owner, * when served, @epoch): ${last}; server logs: ${await this.dumpLogs()}`);
      await sleep(250);
    }
  }

  /** Every 300 ms, `/partitions` of every live server (a paused one too: its answer, if any, comes late). */
  async #sample(): Promise<void> {
    while (!this.#stopSampling) {
      await Promise.all(
        this.nodes
          .filter((n) => !n.down)
          .map(async (n) => {
            const sentAt = performance.now();
            const { body } = await getJson(`${n.url}/partitions`, 3000);
            const view = body as PartitionsBody | undefined;
            if (view?.node !== undefined) this.samples.push({ via: view.node, sentAt, answeredAt: performance.now(), partitions: view.partitions });
          }),
      );
      await sleep(300);
    }
  }

  #newOp(account: string, type: 'Open' | 'Deposit', amount: number): Operation {
    return this.history.add({ commandId: `${type === 'Open' ? 'open' : 'dep'}-${account}-${++this.#opSeq}`, account, type, amount });
  }

  /** Sends one attempt of `op` through `node` and records it. */
  async attempt(op: Operation, node: Node): Promise<Attempt> {
    const command = op.type === 'Open' ? { type: 'Open', data: { owner: op.account } } : { type: 'Deposit', data: { amount: op.amount } };
    let status = 0;
    let body: Record<string, unknown> | undefined;
    let clientError: string | undefined;
    try {
      const res = await fetch(`${node.url}/aggregates/account/${op.account}/commands`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ ...command, commandId: op.commandId }),
        signal: AbortSignal.timeout(CLIENT_TIMEOUT_MS),
      });
      status = res.status;
      body = (await res.json()) as Record<string, unknown>;
    } catch (err) {
      clientError = (err as Error).name;
      // An answer whose body could not be read is no answer.
      status = 0;
    }
    const outcome = classify(status, body);
    const attempt: Attempt = { via: node.nodeId, outcome, status };
    const error = clientError ?? (typeof body?.error === 'string' ? body.error : undefined);
    if (error !== undefined) attempt.error = error;
    if (outcome === 'ok' && body) {
      attempt.duplicate = body.duplicate === true;
      attempt.version = body.version as number;
      attempt.balance = (body.state as { balance: number }).balance;
      const events = body.events as EventView[] | undefined;
      if (events?.[0]) attempt.seq = events[0].seq;
    }
    op.attempts.push(attempt);
    return attempt;
  }

  /** Attempts `op` through the live servers in turn until it is answered ok (throws at the deadline). */
  async untilOk(op: Operation, deadlineMs = 90_000, start = 0): Promise<void> {
    const until = performance.now() + deadlineMs;
    for (let k = start; ; k++) {
      const live = this.nodes.filter((n) => !n.down && !n.paused);
      const node = live[k % Math.max(1, live.length)];
      if (node) {
        const a = await this.attempt(op, node);
        if (a.outcome === 'ok') return;
      }
      if (performance.now() > until) throw new Error(`${op.commandId} not answered ok within ${deadlineMs} ms: ${JSON.stringify(op.attempts.slice(-5))}`);
      await sleep(250);
    }
  }

  /** Opens every account (retried until ok). */
  async openAccounts(): Promise<void> {
    await Promise.all(this.accounts.map((a, i) => this.untilOk(this.#newOp(a, 'Open', 0), 90_000, i)));
    this.mark('open accounts');
  }

  /** One new deposit per account, each retried until ok: writes are accepted on every partition. */
  async depositEverywhere(): Promise<void> {
    await Promise.all(this.accounts.map((a, i) => this.untilOk(this.#newOp(a, 'Deposit', 1 + randomInt(100)), 90_000, i)));
    this.mark('a deposit on every account');
  }

  /**
   * `clients` concurrent loops, each sending deposits to random accounts through the servers in turn,
   * until `stop()`: a new operation each time (a refused or unknown one is left to `settle`).
   */
  load(clients = 6): { stop: () => Promise<{ ok: number; other: number }> } {
    let stopped = false;
    const counts = { ok: 0, other: 0 };
    const loops = Array.from({ length: clients }, async (_, c) => {
      for (let k = c; !stopped; k++) {
        const targets = this.nodes.filter((n) => !n.down);
        const node = targets[k % Math.max(1, targets.length)];
        if (!node) {
          await sleep(100);
          continue;
        }
        const op = this.#newOp(this.accounts[randomInt(this.accounts.length)]!, 'Deposit', 1 + randomInt(100));
        const a = await this.attempt(op, node);
        counts[a.outcome === 'ok' ? 'ok' : 'other']++;
        // A refusal or no answer: back off a little instead of spinning on a partition changing hands.
        if (a.outcome !== 'ok') await sleep(150);
      }
    });
    return {
      stop: async () => {
        stopped = true;
        await Promise.all(loops);
        this.mark('load');
        return counts;
      },
    };
  }

  /** Retries every operation not answered ok yet, with its commandId, until it is (8 at a time). */
  async settle(): Promise<void> {
    const pending = this.history.all().filter((op) => outcomeOf(op) !== 'ok');
    let next = 0;
    await Promise.all(
      Array.from({ length: 8 }, async (_, w) => {
        while (next < pending.length) await this.untilOk(pending[next++]!, 90_000, w);
      }),
    );
    this.mark('settle');
  }

  /** What every live server answers for every account: its state and its whole history. */
  async readAll(): Promise<Map<string, Map<string, AccountRead>>> {
    const nodes = this.live();
    const read = await Promise.all(nodes.map((node) => Promise.all(this.accounts.map(async (account) => [account, await this.#readAccount(node, account)] as const))));
    this.mark('read every account through every server');
    return new Map(nodes.map((node, i) => [node.nodeId, new Map(read[i])]));
  }

  async #readAccount(node: Node, account: string): Promise<AccountRead> {
    const base = `${node.url}/aggregates/account/${account}`;
    const state = (await this.#read200(`${base}`)) as { version: number; state: { balance: number } };
    const events: EventView[] = [];
    for (let from = 1; ; ) {
      const page = (await this.#read200(`${base}/events?from=${from}&limit=1000`)) as { events: EventView[]; next?: number };
      events.push(...page.events);
      if (page.next === undefined || page.events.length === 0) break;
      from = page.next;
    }
    return { version: state.version, balance: state.state.balance, events: events.map(({ stream, type, seq, partition, offset, data, meta }) => ({ stream, type, seq, partition, offset, data, meta })) };
  }

  /** A GET retried (on 503 or no answer) until it answers 200. */
  async #read200(url: string): Promise<Record<string, unknown>> {
    const until = performance.now() + 60_000;
    for (;;) {
      const { status, body } = await getJson(url);
      if (status === 200 && body) return body;
      if (performance.now() > until || (status >= 400 && status < 500)) throw new Error(`GET ${url}: ${status} ${JSON.stringify(body)}`);
      await sleep(250);
    }
  }
}
