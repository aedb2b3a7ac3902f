/**
 * Cluster-mode runtimes for tests: nodes of one group in this test process, each with its own local dir
 * (the JetStream log's cache), on private nats-servers (nats-servers.ts).
 */
import { RuntimeError } from '../../src/kernel/index.js';
import { partitionOf } from '../../src/partition/index.js';
import { createRuntime, type Runtime, type RuntimeOptions } from '../../src/runtime/index.js';
import { waitFor } from './cluster-members.js';

export { waitFor };

export interface NodeOptions {
  servers: string[];
  group: string;
  nodeId: string;
  dataDir: string;
  partitions: number;
  leaseMs?: number;
  /** Other runtime options (e.g. coldLoads). */
  runtime?: Partial<RuntimeOptions>;
}

export function startNode(o: NodeOptions): Promise<Runtime> {
  return createRuntime({
    dataDir: o.dataDir,
    partitions: o.partitions,
    ...o.runtime,
    cluster: { servers: o.servers, group: o.group, nodeId: o.nodeId, replicas: 1, ...(o.leaseMs !== undefined ? { leaseMs: o.leaseMs } : {}) },
  });
}

/** The partitions a node serves now. */
export function served(node: Runtime): number[] {
  return node.partitions().filter((p) => p.served === true).map((p) => p.partition);
}

/** True when every partition is served by exactly one of `nodes`. */
export function eachServedOnce(nodes: readonly Runtime[], partitions: number): boolean {
  const all = nodes.flatMap(served).sort((a, b) => a - b);
  return all.length === partitions && all.every((p, i) => p === i);
}

/** One account id per partition (`ids[p]` hashes to partition p). */
export function idPerPartition(partitions: number, prefix = 'acct'): string[] {
  const ids: (string | undefined)[] = new Array(partitions).fill(undefined);
  for (let i = 0; ids.includes(undefined); i++) {
    const id = `${prefix}-${i}`;
    const p = partitionOf(id, partitions);
    ids[p] ??= id;
  }
  return ids as string[];
}

/** The error a call rejects with (fails the test when it resolves). */
export async function rejection(call: Promise<unknown>): Promise<RuntimeError> {
  const outcome = await call.then(
    (value) => ({ ok: true as const, value }),
    (err: unknown) => ({ ok: false as const, err }),
  );
  if (outcome.ok) throw new Error(`expected a rejection, got ${JSON.stringify(outcome.value)}`);
  if (!RuntimeError.is(outcome.err)) throw outcome.err;
  return outcome.err;
}

/** Blocks this thread's event loop for `ms` (a stalled main thread: a long GC pause, a busy loop). */
export function blockEventLoop(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // busy
  }
}
