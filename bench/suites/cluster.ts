/**
 * Cluster mode (issue 14): commands through 1 and 3 eventide servers on a 3-node JetStream cluster
 * (R3), against JetStream's own publish rate on the same nats-servers in the same run, and the time
 * from `kill -9` of a partition owner until each of its partitions accepts commands again.
 *
 * Every process is its own: 3 nats-servers (+ 1 alone for the R1 baseline; Debian's nats-server,
 * scripts/cluster/nats-processes.ts), the eventide servers (`src/server/main.ts`, as `npm start` runs
 * it with `EVENTIDE_NATS` set: support/cluster-nodes.ts), the publisher (cluster-publish-child.ts) and
 * the HTTP client (cluster-client.ts). Nothing is measured inside a server.
 *
 * 1. **Baseline**: the publisher, a `nats bench`-like loop with the npm client, publishes messages
 *    shaped like one partition's message of a batch (the log's encoder and headers, `COMMANDS_PER_MESSAGE`
 *    Deposits) to an R1 stream on the lone server and an R3 stream on the cluster: one at a time
 *    (conditional on the last sequence, awaited: the log's own publish) and 64 in flight. Run before and
 *    after the eventide loads; the figures are the mean of the two.
 * 2. **Commands through 1 and 3 servers**: two groups on the same 3 nats-servers, `solo` (1 node) and
 *    `trio` (3 nodes), 16 partitions, R3, the default lease. `ACCOUNTS` accounts opened first (every
 *    first touch paid), then a closed loop of `CONNECTIONS` callers posting Deposits with command ids
 *    round-robin over the accounts, the callers spread over the group's servers (with 3: 2 of 3
 *    commands land on a server that does not own the partition and are forwarded). The two groups
 *    alternate, rounds of `seconds`, medians. A command answered 503 is retried with its command id
 *    (counted in the note; none expected in steady state). JetStream's message count over a load, per
 *    command, says how many commands one message (one partition of one batch) carried. A third
 *    server, the embedded one (no NATS, local LMDB, `WORKERS=1` as in cluster mode), takes the same
 *    load in the same rounds: the reference that separates what cluster mode costs from what the HTTP
 *    path costs on this box (`cluster.embedded.rate`).
 * 3. **Failover**: the trio's owner of the most partitions is killed with SIGKILL while one caller per
 *    account (`FAILOVER_ACCOUNTS_PER_PARTITION` accounts on each of its partitions) sends Deposits
 *    through the two survivors, retrying every 503 / refused / unanswered attempt after 50 ms with the
 *    same command id (a client timeout of 2 s: a forward sent towards the dead owner can otherwise wait
 *    out the server's 10 s forward timeout). Per moved partition: the kill to the first 2xx of a command
 *    (re)sent after it. The figure is the slowest partition; the target is the lease + 2 s.
 *
 * Quick mode (CI): only the publish baseline, 0.3 s per way, so the harness stays proven; starting 4
 * eventide servers from sources costs 20-60 s on a loaded 2-core box, so the server figures say "not
 * available" and why. Without `nats-server` every figure says so.
 */
import { mkdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { measured, notAvailable, type FigureId } from '../figures.js';
import { partitionOf } from '../../src/partition/index.js';
import { NATS_MISSING, natsServerAvailable, startNats, type NatsCluster } from '../../scripts/cluster/nats-processes.js';
import type { BenchContext, Suite } from '../support/context.js';
import { lineReader, REPO_ROOT, runChild } from '../support/child.js';
import { cpuOf, startClusterNode, type ClusterNode } from '../support/cluster-nodes.js';
import { median } from '../support/stats.js';
import { makeTempDir, removeTempDir } from '../support/tmp.js';
import type { ClientConfig, FailoverReport, LoadReport } from './cluster-client.js';
import type { PublishConfig, PublishReport } from './cluster-publish-child.js';
import { fmt } from './throughput.js';

const PUBLISHER = new URL('./cluster-publish-child.ts', import.meta.url);
const CLIENT = new URL('./cluster-client.ts', import.meta.url);
const PARTITIONS = 16;
const ACCOUNTS = 1000;
const CONNECTIONS = 64;
const LEASE_MS = 3000;
/** 64 callers over 16 partitions: about 4 commands per partition per batch when a batch holds them all. */
const COMMANDS_PER_MESSAGE = 4;
const IN_FLIGHT = 64;
const FAILOVER_ACCOUNTS_PER_PARTITION = 3;
const sizes = (quick: boolean) => (quick ? { publishSeconds: 0.3, rounds: 0, seconds: 0 } : { publishSeconds: 3, rounds: 2, seconds: 8 });

const SERVER_FIGURES: FigureId[] = ['cluster.embedded.rate', 'cluster.http1.rate', 'cluster.http1.p50', 'cluster.http1.p99', 'cluster.http3.rate', 'cluster.http3.p50', 'cluster.http3.p99', 'cluster.failover'];
const PUBLISH_FIGURES: FigureId[] = ['cluster.publish.r1.sync', 'cluster.publish.r1.inflight', 'cluster.publish.r3.sync', 'cluster.publish.r3.inflight'];

const la = (l: number[]): string => l.map((x) => x.toFixed(1)).join(' / ');
const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

async function publishRates(r1: NatsCluster, r3: NatsCluster, seconds: number): Promise<{ r1: PublishReport; r3: PublishReport }> {
  const config: PublishConfig = { targets: [{ urls: r1.urls, replicas: 1 }, { urls: r3.urls, replicas: 3 }], seconds, inFlight: IN_FLIGHT, commandsPerMessage: COMMANDS_PER_MESSAGE };
  const { result } = await runChild<PublishReport[]>(PUBLISHER, [JSON.stringify(config)]);
  return { r1: result[0]!, r3: result[1]! };
}

/** The client child in `load` or `open` mode (one JSON line). */
async function client(config: Omit<ClientConfig, 'retryDelayMs' | 'timeoutMs'>): Promise<LoadReport> {
  return (await runChild<LoadReport>(CLIENT, [JSON.stringify({ retryDelayMs: 50, timeoutMs: 15_000, ...config })])).result;
}

/** Messages stored in a group's partition streams (its log is named after the group). */
async function messagesOf(urls: string[], group: string): Promise<number> {
  const nc = await connect({ servers: urls });
  try {
    const jsm = await jetstreamManager(nc);
    let n = 0;
    for await (const s of jsm.streams.list()) if (s.config.name.startsWith(`EVT_${group}_P`)) n += s.state.messages;
    return n;
  } finally {
    await nc.close();
  }
}

interface Group {
  name: string;
  nodes: ClusterNode[];
  accounts: string[];
  loads: LoadReport[];
  serverCpuUs: number[];
  natsCpuUs: number[];
  commandsPerMessage: number[];
  /** Cores this group's server processes used, per server, while another group was loaded (background: leases, heartbeats, ticks). */
  idleCoresPerServer: number[];
}

async function startGroup(name: string, size: number, nats: NatsCluster, dir: string, cluster = true): Promise<Group> {
  const nodes = await Promise.all(
    Array.from({ length: size }, (_, i) => {
      const dataDir = join(dir, `${name}-n${i + 1}`);
      mkdirSync(dataDir, { recursive: true });
      return startClusterNode({ nodeId: `${name}-n${i + 1}`, cluster, group: name, natsUrls: nats.urls, replicas: 3, partitions: PARTITIONS, leaseMs: LEASE_MS, dataDir });
    }),
  );
  const accounts = Array.from({ length: ACCOUNTS }, (_, i) => `${name}-acct-${i}`);
  return { name, nodes, accounts, loads: [], serverCpuUs: [], natsCpuUs: [], commandsPerMessage: [], idleCoresPerServer: [] };
}

/** Waits until every partition has an owner that serves it, as the first node sees them. */
async function settled(g: Group): Promise<Map<number, string>> {
  const until = performance.now() + 60_000;
  for (;;) {
    const body = (await (await fetch(`${g.nodes[0]!.url}/partitions`)).json()) as { partitions: { partition: number; owner?: string }[]; members?: unknown[] };
    const owners = new Map(body.partitions.filter((p) => p.owner).map((p) => [p.partition, p.owner!]));
    const spread = new Set(owners.values()).size;
    if (owners.size === PARTITIONS && (body.members?.length ?? 0) === g.nodes.length && spread === g.nodes.length) return owners;
    if (performance.now() > until) throw new Error(`group ${g.name}: partitions not spread over its ${g.nodes.length} nodes after 60 s: ${JSON.stringify(body.partitions.map((p) => p.owner ?? null))}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function loadRound(g: Group, all: Group[], nats: NatsCluster, seconds: number, round: number): Promise<void> {
  const others = all.filter((o) => o !== g);
  const idle0 = others.map((o) => cpuOf(o.nodes.map((n) => n.pid)));
  const t0 = performance.now();
  const urls = g.nodes.map((n) => n.url);
  const pids = g.nodes.map((n) => n.pid);
  const natsPids = nats.nodes.map((n) => n.process?.pid);
  const embedded = g.name === 'embedded';
  const msgs0 = embedded ? 0 : await messagesOf(nats.urls, g.name);
  const cpu0 = cpuOf(pids);
  const ncpu0 = cpuOf(natsPids);
  const r = await client({ mode: 'load', urls, accounts: g.accounts, connections: CONNECTIONS, seconds, runId: `${g.name}-r${round}` });
  const cpu1 = cpuOf(pids);
  const ncpu1 = cpuOf(natsPids);
  const msgs1 = embedded ? 0 : await messagesOf(nats.urls, g.name);
  const elapsedUs = (performance.now() - t0) * 1000;
  others.forEach((o, i) => {
    const after = cpuOf(o.nodes.map((n) => n.pid));
    const before = idle0[i];
    if (before !== null && before !== undefined && after !== null) o.idleCoresPerServer.push((after - before) / elapsedUs / o.nodes.length);
  });
  g.loads.push(r);
  if (cpu0 !== null && cpu1 !== null) g.serverCpuUs.push((cpu1 - cpu0) / Math.max(1, r.ok));
  if (ncpu0 !== null && ncpu1 !== null) g.natsCpuUs.push((ncpu1 - ncpu0) / Math.max(1, r.ok));
  // Retried commands may be stored once and answered later; the ratio is of stored commands to messages.
  if (msgs1 > msgs0) g.commandsPerMessage.push(r.ok / (msgs1 - msgs0));
}

function reportGroup(ctx: BenchContext, g: Group, ids: FigureId[], pub: { r3: PublishReport[] }, seconds: number, before: number[], reference?: Group): void {
  const inflight = mean(pub.r3.map((p) => p.inFlight.rate));
  const syncP50 = mean(pub.r3.map((p) => p.sync.p50ms));
  const syncP99 = mean(pub.r3.map((p) => p.sync.p99ms));
  const rate = median(g.loads.map((l) => l.ok / l.durationS));
  const retries = g.loads.reduce((n, l) => n + l.retried503 + l.retriedErrors, 0);
  const failed = g.loads.reduce((n, l) => n + l.failed, 0);
  const firstFailure = g.loads.find((l) => l.firstFailure)?.firstFailure;
  const setup = g.name === 'embedded' ? `the embedded server (src/server/main.ts without EVENTIDE_NATS, WORKERS=1: the log is local LMDB, sync), ${PARTITIONS} partitions` : `${g.nodes.length} server(s), ${PARTITIONS} partitions, R3 on 3 nats-servers`;
  const vsRef = reference ? `${(rate / median(reference.loads.map((l) => l.ok / l.durationS))).toFixed(2)} x the embedded server's rate in this run; ` : '';
  const how =
    `${setup}; ${CONNECTIONS} callers` +
    (g.nodes.length > 1 ? ' spread over the servers (2 of 3 commands forwarded to the owner)' : '') +
    `, Deposits over ${fmt(ACCOUNTS)} accounts with command ids, ${seconds} s x ${g.loads.length} rounds alternating with the other group, median; ` +
    `load average ${la(before)} -> ${la(loadavg())}`;
  const cpu =
    `CPU per command: eventide server(s) ${g.serverCpuUs.length ? median(g.serverCpuUs).toFixed(0) : '?'} us, nats-servers ${g.natsCpuUs.length ? median(g.natsCpuUs).toFixed(0) : '?'} us, client ${median(g.loads.map((l) => l.clientCpuUs / Math.max(1, l.ok))).toFixed(0)} us` +
    `${g.idleCoresPerServer.length ? `; idle (while another group was loaded): ${median(g.idleCoresPerServer).toFixed(3)} cores per server` : ''}; ` +
    (g.name === 'embedded' ? 'no JetStream' : `${g.commandsPerMessage.length ? median(g.commandsPerMessage).toFixed(1) : '?'} commands per JetStream message (one partition of one batch)`) +
    `; ${retries} attempts retried (503 or no answer), ${failed} failed${firstFailure ? ` (first: ${firstFailure})` : ''}`;
  const baseline = g.name === 'embedded' ? {} : { baseline: { name: 'JetStream R3, 64 publishes in flight', value: inflight, unit: 'msg/s' } };
  ctx.figure(measured(ids[0]!, { value: rate, ...baseline, note: `${vsRef}${how}; ${cpu}` }));
  if (ids.length === 1) return;
  ctx.figure(measured(ids[1]!, { value: median(g.loads.map((l) => l.p50ms)), baseline: { name: 'JetStream R3 publish-ack p50', value: syncP50, unit: 'ms' }, note: `${how}; from a command's first send to its 2xx` }));
  ctx.figure(measured(ids[2]!, { value: median(g.loads.map((l) => l.p99ms)), baseline: { name: 'JetStream R3 publish-ack p99', value: syncP99, unit: 'ms' }, note: `${how}; from a command's first send to its 2xx` }));
}

/** Kills the trio's owner of the most partitions while callers send on its partitions; seconds until each accepts again. */
async function failover(ctx: BenchContext, g: Group, owners: Map<number, string>): Promise<void> {
  const before = loadavg();
  const counts = new Map<string, number>();
  for (const o of owners.values()) counts.set(o, (counts.get(o) ?? 0) + 1);
  const victimId = [...counts].sort((a, b) => b[1] - a[1])[0]![0];
  const victim = g.nodes.find((n) => n.nodeId === victimId)!;
  const moved = [...owners].filter(([, o]) => o === victimId).map(([p]) => p);
  const accounts: string[] = [];
  const partitionOfAccount = new Map<string, number>();
  for (const p of moved) {
    const mine = g.accounts.filter((a) => partitionOf(a, PARTITIONS) === p).slice(0, FAILOVER_ACCOUNTS_PER_PARTITION);
    for (const a of mine) partitionOfAccount.set(a, p);
    accounts.push(...mine);
  }
  const survivors = g.nodes.filter((n) => n !== victim).map((n) => n.url);
  const config: ClientConfig = { mode: 'failover', urls: survivors, accounts, connections: accounts.length, seconds: 60, runId: `${g.name}-failover`, retryDelayMs: 50, timeoutMs: 2000 };
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(CLIENT), JSON.stringify(config)], { cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'inherit'] });
  const next = lineReader(child);
  const first = await next();
  if (first !== 'ready') throw new Error(`failover client said ${first.slice(0, 300)}`);
  await new Promise((r) => setTimeout(r, 500));
  const killedAt = performance.timeOrigin + performance.now();
  await victim.kill();
  child.stdin.write(`killed ${killedAt}\n`);
  const report = JSON.parse(await next()) as FailoverReport;
  const perPartition = moved.map((p) => {
    const times = accounts.filter((a) => partitionOfAccount.get(a) === p).map((a) => report.acceptedAgain[a]).filter((t): t is number => t !== null && t !== undefined);
    return { p, s: times.length ? (Math.min(...times) - killedAt) / 1000 : null };
  });
  const missing = perPartition.filter((x) => x.s === null).map((x) => x.p);
  const slowest = Math.max(...perPartition.map((x) => x.s ?? Number.POSITIVE_INFINITY));
  const target = LEASE_MS / 1000 + 2;
  const note =
    `kill -9 of ${victimId}, owner of ${moved.length} of ${PARTITIONS} partitions (3 servers, R3), lease ${LEASE_MS} ms (the default), target ${target} s; ` +
    `${FAILOVER_ACCOUNTS_PER_PARTITION} callers per moved partition through the 2 survivors, each retrying 503 / no answer after 50 ms with the same command id (client timeout 2 s); ` +
    `per partition, s: ${perPartition.map((x) => `p${x.p} ${x.s === null ? 'never' : x.s.toFixed(2)}`).join(', ')}; median ${median(perPartition.filter((x) => x.s !== null).map((x) => x.s!)).toFixed(2)} s; ` +
    `${report.retried503} answers 503, ${report.retriedErrors} attempts unanswered, ${report.failed} failed${report.firstFailure ? ` (first: ${report.firstFailure.slice(0, 200)})` : ''}; load average ${la(before)} -> ${la(loadavg())}`;
  if (missing.length) {
    ctx.figure(notAvailable('cluster.failover', `not available: partitions ${missing.join(', ')} accepted nothing within 60 s of the kill; ${note}`));
    return;
  }
  ctx.figure(measured('cluster.failover', { value: slowest, note, met: slowest <= target }));
}

export const clusterSuite: Suite = {
  name: 'cluster',
  figures: [...PUBLISH_FIGURES, ...SERVER_FIGURES],
  steps: (quick) => (quick ? 2 : 6 + 3 * sizes(quick).rounds),
  async run(ctx) {
    if (!natsServerAvailable()) {
      for (const id of clusterSuite.figures) ctx.figure(notAvailable(id, `not available: ${NATS_MISSING}`));
      return;
    }
    if (!ctx.quick) return measureAll(ctx);
    // CI must not fail because a loaded box was slow to start nats-servers or to answer a publish: quick
    // mode reports what it could not measure as not available, with the error.
    const reported = new Set<FigureId>();
    const tracking: BenchContext = { ...ctx, figure: (f) => (reported.add(f.id), ctx.figure(f)) };
    try {
      await measureAll(tracking);
    } catch (err) {
      for (const id of clusterSuite.figures) {
        if (!reported.has(id)) ctx.figure(notAvailable(id, `not available: the quick-mode cluster run failed: ${(err as Error).message.slice(0, 300)}`));
      }
    }
  },
};

/** Everything the suite measures (quick mode: the publish baseline only). */
async function measureAll(ctx: BenchContext): Promise<void> {
  const s = sizes(ctx.quick);
  const before = loadavg();
  ctx.step('starting 1 + 3 nats-servers');
  const [r1, r3] = await Promise.all([startNats(1, { name: `bench-r1-${process.pid}` }), startNats(3, { name: `bench-r3-${process.pid}` })]);
  const dir = makeTempDir('cluster');
  const groups: Group[] = [];
  try {
    const pub: { r1: PublishReport[]; r3: PublishReport[] } = { r1: [], r3: [] };
    ctx.step('JetStream publish baseline');
    const first = await publishRates(r1, r3, s.publishSeconds);
    pub.r1.push(first.r1);
    pub.r3.push(first.r3);
    if (!ctx.quick) {
      ctx.step('starting eventide servers: 1 (solo), 3 (trio) and the embedded reference');
      groups.push(await startGroup('solo', 1, r3, dir));
      groups.push(await startGroup('trio', 3, r3, dir));
      groups.push(await startGroup('embedded', 1, r3, dir, false));
      const owners = new Map<string, Map<number, string>>();
      for (const g of groups) {
        ctx.step(`${g.name}: opening ${fmt(ACCOUNTS)} accounts`);
        if (g.name !== 'embedded') owners.set(g.name, await settled(g));
        const opened = await client({ mode: 'open', urls: g.nodes.map((n) => n.url), accounts: g.accounts, connections: CONNECTIONS, seconds: 0, runId: `${g.name}-open` });
        if (opened.ok !== ACCOUNTS) throw new Error(`${g.name}: ${opened.ok} of ${ACCOUNTS} accounts opened (first failure: ${opened.firstFailure})`);
      }
      for (let r = 0; r < s.rounds; r++) {
        for (const g of r % 2 ? [...groups].reverse() : groups) {
          ctx.step(`${g.name} round ${r + 1}/${s.rounds}`);
          await loadRound(g, groups, r3, s.seconds, r);
        }
      }
      ctx.step('JetStream publish baseline, again');
      const p = await publishRates(r1, r3, s.publishSeconds);
      pub.r1.push(p.r1);
      pub.r3.push(p.r3);
      const [solo, trio, embedded] = groups as [Group, Group, Group];
      reportGroup(ctx, solo, ['cluster.http1.rate', 'cluster.http1.p50', 'cluster.http1.p99'], pub, s.seconds, before, embedded);
      reportGroup(ctx, trio, ['cluster.http3.rate', 'cluster.http3.p50', 'cluster.http3.p99'], pub, s.seconds, before, embedded);
      reportGroup(ctx, embedded, ['cluster.embedded.rate'], pub, s.seconds, before);
      await Promise.all([solo.nodes[0]!.stop(), embedded.nodes[0]!.stop()]);
      ctx.step('failover: kill -9 an owner');
      // The owners as they are now (a lease could have moved during the loads).
    await failover(ctx, trio, await settled(trio));
    } else {
      for (const id of SERVER_FIGURES) {
        ctx.figure(notAvailable(id, 'not available in quick mode: starting 4 eventide servers from sources takes 20-60 s on a loaded 2-core box; `npm run bench -- --only cluster` measures it'));
      }
    }
    if (pub.r1.length) {
      const note = (p: PublishReport[], way: string): string =>
        `${way}; ${p[0]!.messageBytes}-byte messages (one partition's message of a batch of ${COMMANDS_PER_MESSAGE} Deposits, the log's encoder and headers), ` +
        `${s.publishSeconds} s per way, ${p.length === 2 ? 'mean of before and after the eventide loads' : 'one run'}; ` +
        `publish-ack p50 ${mean(p.map((x) => x.sync.p50ms)).toFixed(2)} ms, p99 ${mean(p.map((x) => x.sync.p99ms)).toFixed(2)} ms; ` +
        `publisher CPU ${mean(p.map((x) => x.clientCpuUsPerMessage)).toFixed(0)} us/msg; load average ${la(before)} -> ${la(loadavg())}`;
      const one = 'one at a time, each conditional on the last sequence and awaited (as the log publishes)';
      const many = `${IN_FLIGHT} in flight, unconditional (the rate JetStream takes from one client)`;
      ctx.figure(measured('cluster.publish.r1.sync', { value: mean(pub.r1.map((p) => p.sync.rate)), note: `1 nats-server, R1 stream; ${note(pub.r1, one)}` }));
      ctx.figure(measured('cluster.publish.r1.inflight', { value: mean(pub.r1.map((p) => p.inFlight.rate)), note: `1 nats-server, R1 stream; ${note(pub.r1, many)}` }));
      ctx.figure(measured('cluster.publish.r3.sync', { value: mean(pub.r3.map((p) => p.sync.rate)), note: `3 nats-servers, R3 stream; ${note(pub.r3, one)}` }));
      ctx.figure(measured('cluster.publish.r3.inflight', { value: mean(pub.r3.map((p) => p.inFlight.rate)), note: `3 nats-servers, R3 stream; ${note(pub.r3, many)}` }));
    }
  } finally {
    for (const g of groups) await Promise.all(g.nodes.map((n) => n.stop().catch(() => undefined)));
    await Promise.all([r1.stop(), r3.stop()]);
    removeTempDir(dir);
  }
}
