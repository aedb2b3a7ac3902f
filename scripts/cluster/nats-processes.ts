/**
 * Private nats-server processes (Debian's `nats-server`, 2.9.x) for `npm run cluster` (scripts/cluster.ts)
 * and for the tests of the JetStream log and of cluster mode (test/support/nats-servers.ts re-exports
 * this): one server, or a 3-node JetStream cluster with routes, on free loopback ports, each with its
 * own temp store dir. Real processes, so a test can kill -9, SIGSTOP and restart one.
 *
 * Gotchas:
 * - Readiness is "/healthz answers ok and, in a cluster, /jsz names a meta leader", not "the process
 *   started": a cluster elects its JetStream meta leader a moment after the listeners open, and API
 *   calls made before that time out.
 * - A restarted node keeps its client port, name and store dir, so it rejoins as the same peer (its
 *   route and monitor ports move only if they stay held when it comes back).
 * - Every server is killed when the test process exits, so none outlives a crashed run.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port.js';

export const NATS_MISSING = 'nats-server is not installed (apt-get install nats-server)';

/** True when a `nats-server` binary can be run (cluster tests skip with NATS_MISSING otherwise). */
export function natsServerAvailable(): boolean {
  return spawnSync('nats-server', ['--version'], { stdio: 'ignore' }).status === 0;
}

export interface NatsNode {
  readonly name: string;
  /** Client URL, `nats://127.0.0.1:<port>`. */
  readonly url: string;
  readonly port: number;
  /** Route port (3-node clusters; may move when a restart finds it held, see `restart`). */
  readonly clusterPort: number;
  /** HTTP monitoring port (/healthz, /jsz, /routez); may move like the route port. */
  readonly monitorPort: number;
  readonly storeDir: string;
  /** The running process (undefined while stopped). */
  readonly process: ChildProcess | undefined;
}

export interface NatsCluster {
  readonly nodes: readonly NatsNode[];
  /** Every node's client URL, for a client that should fail over. */
  readonly urls: string[];
  /** SIGKILL one node (no clean shutdown). */
  kill(index: number): Promise<void>;
  /** Starts a stopped node again with its old client port, name and store dir, and waits for it to be ready. */
  restart(index: number): Promise<void>;
  /** SIGSTOP / SIGCONT one node. */
  pause(index: number): void;
  resume(index: number): void;
  /** Stops every node and removes the store dirs. */
  stop(): Promise<void>;
}

interface NodeState {
  name: string;
  port: number;
  clusterPort: number;
  monitorPort: number;
  storeDir: string;
  process: ChildProcess | undefined;
  log: string[];
}

const running = new Set<ChildProcess>();
/** Launches of a restarted node before its EADDRINUSE is given up on (about 9 s of waiting in all). */
const RESTART_ATTEMPTS = 8;
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** Starts `size` nats-servers with JetStream (size 1: no cluster block; 3: one cluster with routes). */
export async function startNats(size: 1 | 3 = 1, options: { name?: string; detached?: boolean } = {}): Promise<NatsCluster> {
  const base = mkdtempSync(join(tmpdir(), 'eventide-nats-'));
  const clusterName = options.name ?? `eventide-test-${process.pid}`;
  const states: NodeState[] = [];
  for (let i = 0; i < size; i++) {
    states.push({ name: `n${i + 1}`, port: 0, clusterPort: 0, monitorPort: 0, storeDir: join(base, `n${i + 1}`), process: undefined, log: [] });
  }
  const choosePorts = async (): Promise<void> => {
    for (const s of states) {
      s.port = await freePort();
      s.clusterPort = await freePort();
      s.monitorPort = await freePort();
      s.log = [];
    }
  };
  const argsOf = (s: NodeState): string[] => {
    const args = ['-js', '-a', '127.0.0.1', '-p', String(s.port), '-m', String(s.monitorPort), '-sd', s.storeDir, '-n', s.name];
    if (size > 1) {
      const routes = states.filter((o) => o !== s).map((o) => `nats-route://127.0.0.1:${o.clusterPort}`).join(',');
      args.push('--cluster_name', clusterName, '--cluster', `nats://127.0.0.1:${s.clusterPort}`, '--routes', routes);
    }
    return args;
  };
  const launch = (s: NodeState): void => {
    // `detached`: a process group of its own, so a terminal's Ctrl-C (sent to the whole foreground group)
    // reaches only the caller, which stops the servers in its own order (`npm run cluster`).
    const child = spawn('nats-server', argsOf(s), { stdio: ['ignore', 'ignore', 'pipe'], detached: options.detached ?? false });
    running.add(child);
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      s.log.push(chunk);
      if (s.log.length > 200) s.log.splice(0, 100);
    });
    child.once('exit', () => {
      running.delete(child);
      if (s.process === child) s.process = undefined;
    });
    s.process = child;
  };
  const stopOne = async (s: NodeState, signal: NodeJS.Signals): Promise<void> => {
    const child = s.process;
    if (!child) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGCONT');
    child.kill(signal);
    await exited;
  };
  // A free port can be taken between the check and nats-server's bind (free-port.ts): a first start
  // that fails on EADDRINUSE starts over on fresh ports; a restart keeps its client port (see `restart`).
  for (let attempt = 1; ; attempt++) {
    await choosePorts();
    for (const s of states) launch(s);
    try {
      await Promise.all(states.map((s) => ready(s, size > 1)));
      break;
    } catch (error) {
      await Promise.all(states.map((s) => stopOne(s, 'SIGKILL')));
      const taken = states.some((s) => s.log.join('').includes('address already in use'));
      if (!taken || attempt === 3) {
        rmSync(base, { recursive: true, force: true });
        throw error;
      }
      for (const s of states) rmSync(s.storeDir, { recursive: true, force: true });
    }
  }
  return {
    get nodes() {
      return states.map((s) => ({ name: s.name, url: `nats://127.0.0.1:${s.port}`, port: s.port, clusterPort: s.clusterPort, monitorPort: s.monitorPort, storeDir: s.storeDir, process: s.process }));
    },
    urls: states.map((s) => `nats://127.0.0.1:${s.port}`),
    kill: (i) => stopOne(states[i]!, 'SIGKILL'),
    async restart(i) {
      const s = states[i]!;
      if (s.process) throw new Error(`nats node ${s.name} is still running`);
      // A port of the node can be held for a moment when it comes back (a restarted node once found its
      // route port taken): try again, and after a few tries move the route and monitor ports, which no
      // client knows (the node dials its peers' route ports itself). The client port stays: clients hold it.
      for (let attempt = 1; ; attempt++) {
        s.log = [];
        launch(s);
        try {
          await ready(s, size > 1);
          return;
        } catch (error) {
          const held = /listen tcp [^ ]*:(\d+): bind: address already in use/.exec(s.log.join(''));
          if (!held || attempt === RESTART_ATTEMPTS) throw error;
          await stopOne(s, 'SIGKILL');
          if (attempt >= 2 && Number(held[1]) === s.clusterPort) s.clusterPort = await freePort();
          if (attempt >= 2 && Number(held[1]) === s.monitorPort) s.monitorPort = await freePort();
          await new Promise((r) => setTimeout(r, 250 * attempt));
        }
      }
    },
    pause: (i) => void states[i]!.process?.kill('SIGSTOP'),
    resume: (i) => void states[i]!.process?.kill('SIGCONT'),
    async stop() {
      await Promise.all(states.map((s) => stopOne(s, 'SIGTERM')));
      rmSync(base, { recursive: true, force: true });
    },
  };
}

/** Waits until the node's JetStream is usable (up to 20 s, then fails with its log). */
async function ready(s: NodeState, clustered: boolean): Promise<void> {
  const until = performance.now() + 20_000;
  while (performance.now() < until) {
    if (!s.process) throw new Error(`nats-server ${s.name} exited:\n${s.log.join('')}`);
    try {
      const health = await fetch(`http://127.0.0.1:${s.monitorPort}/healthz`);
      const jsz = health.ok ? ((await (await fetch(`http://127.0.0.1:${s.monitorPort}/jsz`)).json()) as { meta_cluster?: { leader?: string } }) : undefined;
      if (jsz && (!clustered || jsz.meta_cluster?.leader)) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nats-server ${s.name} not ready after 20 s:\n${s.log.join('')}`);
}

