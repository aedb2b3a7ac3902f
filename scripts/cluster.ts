/**
 * `npm run cluster`: cluster mode on one machine, to try it (docs/cluster.md). Starts a 3-node NATS
 * JetStream cluster (Debian's `nats-server`, `-js`, routes between the three, temp store dirs, loopback,
 * free ports) and 3 eventide servers in front of it (`src/server/main.ts`, what `npm start` runs), each
 * with its own data dir (its local cache) under one temp dir, `EVENTIDE_REPLICAS=3`. Prints the URLs;
 * Ctrl-C (or SIGTERM) stops all six and removes the temp dirs.
 *
 *   npm run cluster                       ports 3001-3003 when free, else free ones
 *   npm run cluster -- --partitions 8     the group's partition count (default 16)
 *   LOG_LEVEL=info npm run cluster        the servers' own log lines too (default warn)
 *
 * Kill one eventide server (`kill -9 <pid>`, printed) to watch its partitions move: the others take
 * them within about a lease (3 s), and meanwhile its partitions answer 503 with Retry-After.
 *
 * Gotchas:
 * - An eventide server that exits is not restarted: the point is to watch the others take over. Its
 *   data dir stays until the script stops; restart it by hand with the printed environment if wanted.
 * - A second Ctrl-C kills everything at once (SIGKILL) and still removes the temp dirs.
 * - The six processes run in process groups of their own (a terminal's Ctrl-C reaches only this
 *   script, which stops them in order); if the script is killed with SIGKILL they stay: kill them by
 *   the printed pids.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { freePort } from './cluster/free-port.js';
import { NATS_MISSING, natsServerAvailable, startNats, type NatsCluster } from './cluster/nats-processes.js';

/** The eventide servers still running: killed if this script exits without stopping them (they are detached). */
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

const NODES = 3;
const PREFERRED_PORTS = [3001, 3002, 3003];
const READY_TIMEOUT_MS = 90_000;
const STOP_TIMEOUT_MS = 20_000;

interface EventideNode {
  name: string;
  url: string;
  dataDir: string;
  child: ChildProcess;
  exited: Promise<string>;
}

/** The server entry: the TypeScript source under tsx, or the built one next to a built script. */
function serverCommand(): string[] {
  const source = fileURLToPath(new URL('../src/server/main.ts', import.meta.url));
  if (existsSync(source)) return ['--import', 'tsx', source];
  return [fileURLToPath(new URL('../src/server/main.js', import.meta.url))];
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

async function choosePorts(): Promise<number[]> {
  const preferred = await Promise.all(PREFERRED_PORTS.map(portFree));
  if (preferred.every(Boolean)) return PREFERRED_PORTS;
  const ports: number[] = [];
  for (let i = 0; i < NODES; i++) ports.push(await freePort());
  return ports;
}

function startEventide(name: string, port: number, dataDir: string, nats: NatsCluster, partitions: number): EventideNode {
  const env = {
    ...process.env,
    DATA_DIR: dataDir,
    PORT: String(port),
    HOST: '127.0.0.1',
    PARTITIONS: String(partitions),
    EVENTIDE_NATS: nats.urls.join(','),
    EVENTIDE_NODE_ID: name,
    EVENTIDE_GROUP: 'eventide',
    EVENTIDE_REPLICAS: '3',
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
  };
  // A process group of its own: a terminal's Ctrl-C reaches only this script, which then stops the
  // servers before NATS (a server given SIGINT directly and then our SIGTERM would take the second
  // signal as "exit now").
  const child = spawn(process.execPath, serverCommand(), { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  running.add(child);
  child.once('exit', () => running.delete(child));
  const prefix = (stream: NodeJS.WritableStream) => (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n')) if (line.trim() !== '') stream.write(`[${name}] ${line}\n`);
  };
  child.stdout!.on('data', prefix(process.stdout));
  child.stderr!.on('data', prefix(process.stderr));
  const exited = new Promise<string>((resolve) => child.once('exit', (code, signal) => resolve(signal ?? `code ${String(code)}`)));
  return { name, url: `http://127.0.0.1:${port}`, dataDir, child, exited };
}

/** Until `GET /health` answers 200 (the runtime is open and the node joined its group). */
async function waitReady(node: EventideNode): Promise<void> {
  const until = performance.now() + READY_TIMEOUT_MS;
  let gone = false;
  void node.exited.then(() => (gone = true));
  while (performance.now() < until) {
    if (gone) throw new Error(`${node.name} exited before it was ready`);
    try {
      const res = await fetch(`${node.url}/health`);
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${node.name} not ready after ${READY_TIMEOUT_MS / 1000} s`);
}

async function stopEventide(node: EventideNode, signal: NodeJS.Signals): Promise<void> {
  if (node.child.exitCode !== null || node.child.signalCode !== null) return;
  node.child.kill(signal);
  const timer = setTimeout(() => node.child.kill('SIGKILL'), STOP_TIMEOUT_MS);
  await node.exited;
  clearTimeout(timer);
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { partitions: { type: 'string', default: '16' } } });
  const partitions = Number(values.partitions);
  if (!Number.isSafeInteger(partitions) || partitions < 1 || partitions > 4096) throw new Error(`--partitions must be an integer in [1, 4096], got ${JSON.stringify(values.partitions)}`);
  if (!natsServerAvailable()) throw new Error(NATS_MISSING);

  const base = mkdtempSync(join(tmpdir(), 'eventide-cluster-'));
  let nats: NatsCluster | undefined;
  const nodes: EventideNode[] = [];
  let stopping: Promise<void> | undefined;
  const stop = (signal: NodeJS.Signals): Promise<void> =>
    (stopping ??= (async () => {
      // The servers first (each leaves its group, handing its partitions over), then NATS under them.
      await Promise.all(nodes.map((n) => stopEventide(n, signal)));
      const exits = await Promise.all(nodes.map(async (n) => `${n.name} ${await n.exited}`));
      process.stdout.write(`eventide servers stopped (${exits.join(', ')}); stopping NATS\n`);
      await nats?.stop();
      rmSync(base, { recursive: true, force: true });
    })());
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    signals++;
    if (signals > 1) {
      process.stdout.write('second signal: killing everything\n');
      for (const n of nodes) n.child.kill('SIGKILL');
    } else {
      process.stdout.write(`${signal}: stopping the 3 eventide servers, then the 3 nats-servers\n`);
    }
    void stop(signals > 1 ? 'SIGKILL' : 'SIGTERM').then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`stopping failed: ${String(err)}\n`);
        rmSync(base, { recursive: true, force: true });
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));

  try {
    process.stdout.write('starting 3 nats-servers (JetStream cluster) ...\n');
    nats = await startNats(3, { name: 'eventide-local', detached: true });
    const ports = await choosePorts();
    process.stdout.write('starting 3 eventide servers ...\n');
    for (let i = 0; i < NODES; i++) nodes.push(startEventide(`n${i + 1}`, ports[i]!, join(base, `n${i + 1}`), nats, partitions));
    await Promise.all(nodes.map(waitReady));
  } catch (err) {
    await stop('SIGTERM').catch(() => undefined);
    throw err;
  }
  for (const n of nodes) {
    void n.exited.then((how) => {
      if (!stopping) process.stdout.write(`${n.name} exited (${how}): the other servers take its partitions within about a lease\n`);
    });
  }
  const first = nodes[0]!.url;
  process.stdout.write(
    [
      '',
      `eventide cluster: ${partitions} partitions shared by 3 servers over a 3-node JetStream cluster (3 replicas)`,
      ...nodes.map((n) => `  ${n.name}  ${n.url}   (pid ${n.child.pid}, data ${n.dataDir})`),
      `  NATS  ${nats.urls.join(',')}`,
      '',
      'Any server answers any request (it forwards to the partition\'s owner). Try:',
      `  curl -s -XPOST -H 'content-type: application/json' ${first}/aggregates/account/alice/commands -d '{"type":"Open","data":{"owner":"Alice"},"commandId":"open-alice"}'`,
      `  curl -s ${nodes[1]!.url}/aggregates/account/alice`,
      `  curl -s ${first}/partitions      (owner, epoch and served per partition; node and members)`,
      `kill -9 one server's pid to watch its partitions move. Ctrl-C stops all six and removes ${base}.`,
      '',
    ].join('\n'),
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`npm run cluster: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
