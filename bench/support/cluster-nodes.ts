/**
 * Eventide servers as cluster nodes for the cluster bench (suites/cluster.ts): each one `npm start`'s
 * entry (`src/server/main.ts` under tsx) in a process of its own, with `EVENTIDE_NATS` and friends set,
 * its own data dir (its local cache), listening on a free loopback port. Ready once `GET /health`
 * answers 200 (the runtime is open and the node joined its group). `kill()` is `kill -9`; `stop()` is
 * SIGTERM (the node hands its partitions over), SIGKILL after 20 s.
 *
 * Also: a process's CPU time from `/proc/<pid>/stat` (all its threads), to report CPU per command for
 * the servers and the nats-servers, which on this shared box says more than rates.
 *
 * Gotchas: every node is killed when the bench process exits, so none outlives a failed run.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { freePort } from '../../scripts/cluster/free-port.js';
import { join } from 'node:path';
import { REPO_ROOT } from './child.js';

const READY_TIMEOUT_MS = 120_000;
const STOP_TIMEOUT_MS = 20_000;

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export interface ClusterNodeOptions {
  nodeId: string;
  /** false: the embedded server (no NATS, one worker), the same process otherwise: the reference. */
  cluster?: boolean;
  group: string;
  natsUrls: string[];
  replicas: 1 | 3;
  partitions: number;
  leaseMs: number;
  dataDir: string;
}

export interface ClusterNode {
  readonly nodeId: string;
  readonly url: string;
  readonly pid: number;
  /** SIGKILL: no hand-over, the lease has to lapse. */
  kill(): Promise<void>;
  /** SIGTERM (hands its partitions over), SIGKILL if it has not exited after 20 s. */
  stop(): Promise<void>;
}

/** Starts one node and waits until it is ready (its stderr tail in the error otherwise). */
export async function startClusterNode(o: ClusterNodeOptions): Promise<ClusterNode> {
  const port = await freePort();
  const env: NodeJS.ProcessEnv = { ...process.env, DATA_DIR: o.dataDir, PORT: String(port), HOST: '127.0.0.1', PARTITIONS: String(o.partitions), LOG_LEVEL: 'warn' };
  if (o.cluster === false) {
    // Cluster mode runs one actor worker per node; the reference does too, so only the log differs.
    env.WORKERS = '1';
  } else {
    Object.assign(env, {
      EVENTIDE_NATS: o.natsUrls.join(','),
      EVENTIDE_NODE_ID: o.nodeId,
      EVENTIDE_GROUP: o.group,
      EVENTIDE_REPLICAS: String(o.replicas),
      EVENTIDE_LEASE_MS: String(o.leaseMs),
    });
  }
  const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'src/server/main.ts')], { cwd: REPO_ROOT, env, stdio: ['ignore', 'ignore', 'pipe'] });
  running.add(child);
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr = (stderr + c).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  void exited.then(() => running.delete(child));
  const url = `http://127.0.0.1:${port}`;
  const until = performance.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`eventide node ${o.nodeId} exited before it was ready: ${stderr}`);
    if (performance.now() > until) {
      child.kill('SIGKILL');
      throw new Error(`eventide node ${o.nodeId} not ready after ${READY_TIMEOUT_MS / 1000} s: ${stderr}`);
    }
    try {
      if ((await fetch(`${url}/health`)).status === 200) break;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  const gone = (): boolean => child.exitCode !== null || child.signalCode !== null;
  return {
    nodeId: o.nodeId,
    url,
    pid: child.pid!,
    async kill() {
      if (gone()) return;
      child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      if (gone()) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** CPU time (user + system, us) of process `pid` and all its threads, from /proc; null when unreadable. */
export function processCpuUs(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10_000;
  } catch {
    return null;
  }
}

/** Summed CPU time of several processes (null if any is unreadable). */
export function cpuOf(pids: Array<number | undefined>): number | null {
  let sum = 0;
  for (const pid of pids) {
    const us = processCpuUs(pid);
    if (us === null) return null;
    sum += us;
  }
  return sum;
}
