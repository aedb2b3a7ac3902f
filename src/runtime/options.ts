/** Runtime options: validated and filled with defaults once, at `createRuntime`. */
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { ErrorCodes, RuntimeError, systemClock, type Clock } from '../kernel/index.js';
import type { Durability } from '../log/index.js';
import { builtinDomains, systemDomains, toModuleUrl, type DomainModule } from './domain-registry.js';
import type { WorkerPluginSpec } from './worker-plugin.js';

export interface RuntimeOptions {
  /**
   * The log: `lmdb` (default), the durable embedded log in `dataDir`; or `memory`, a log in this
   * process's memory (nothing on disk, gone when the runtime closes) whose actor hosts run on the main
   * thread instead of worker threads: for tests, examples and trying things out, not for production.
   */
  log?: 'lmdb' | 'memory';
  /** Where the LMDB log lives (created if missing). Required with the `lmdb` log; not used by `memory`. */
  dataDir?: string;
  /** Partition count P for a new data dir (default 16). An existing data dir keeps its own P. */
  partitions?: number;
  /** Actor worker threads W (default: 1 with the `lmdb` log, one writer per log; with `memory`, the machine's available parallelism; at most P). */
  workers?: number;
  /** Modules exporting a Decider (absolute paths or file URLs). Default: the built-in account and video. */
  domains?: DomainModule[];
  /** `sync` (default): acknowledge after the flush to disk. `commit`: after the commit is visible. */
  durability?: Durability;
  /** Persist a snapshot each time a stream crosses a multiple of this many events (default 100; 0 = never). */
  snapshotEvery?: number;
  /** Live (in-memory) actors across all workers before the least recently used idle ones are passivated (default 200 000). */
  maxLiveActors?: number;
  /**
   * Acknowledged states the main thread keeps so `load(type, id)` answers without a worker round trip
   * (default: `maxLiveActors`; 0 = off, every load asks the owning worker). LRU-bounded by entry count.
   */
  stateCacheSize?: number;
  /**
   * Where a plain `load` that misses the state cache is answered: `log` (default), read from the log
   * and folded on the calling thread, asking the owning worker only when the stream has a command in
   * flight (log-loads.ts); `owner`, always by a round trip to the owning worker (the behaviour before
   * calling-thread reads; kept for comparison, e.g. by the bench). Both answer the same.
   */
  coldLoads?: 'log' | 'owner';
  /** Commands queued per aggregate before callers get `Overloaded` (default 1 024). */
  mailboxCapacity?: number;
  /** Commands in flight per worker before callers get `Overloaded` (default 100 000). */
  maxInFlightPerWorker?: number;
  /** Actors idle this long are passivated (default 300 000 ms; 0 = only the LRU bound). */
  idlePassivateMs?: number;
  /** Worker restarts allowed within a minute before the runtime stops restarting it (default 10). */
  maxRestartsPerMinute?: number;
  /**
   * How often the background scavenge runs (docs/data-lifecycle.md, "Scavenge"; default 300 000 ms; 0 =
   * never: only `runtime.scavenge()` removes what retention hides).
   */
  scavengeEveryMs?: number;
  /** Keep every n-th persisted snapshot once it is older than the newest ten (default 1: keep all). Bounds disk; the time machine then folds at most n x snapshotEvery events. */
  snapshotThinning?: number;
  /**
   * Worker plugins every worker runs, in this order (default: none). The runtime knows no read model:
   * the projection engine is one of these, `projectionEngine(views)` from the projections, and
   * `createEventide` (src/app/) passes it for you.
   */
  workerPlugins?: WorkerPluginSpec[];
  /**
   * Free space (bytes) the data dir's file system must keep: below it writes are refused with
   * `StorageFailed` (cause `ENOSPC`) before LMDB meets a full disk, and they resume by themselves once
   * space is back above it (default 64 MiB; 0 = no reserve).
   */
  storageReserveBytes?: number;
  /** Called when a worker thread died and was restarted (for logs and metrics). */
  onWorkerRestart?: (worker: number, reason: string) => void;
  /**
   * Wall-clock time as the main thread reads it: the `now` a command carries (its events' `ts`, the
   * deciders' `context.now`, what the time machine's `at` compares with). Default: the system clock.
   * Stays on the main thread (a function does not cross `postMessage`); workers use the system clock
   * for their own bookkeeping (idle passivation).
   */
  clock?: Clock;
  /**
   * Record a timeline of the runtime's own pauses in every thread (drains, flush waits, page and
   * snapshot writes, passivation, hydration, reply handling, GC pauses, event-loop stalls: trace.ts),
   * read with `runtime.traceSpans(sinceMs)`. Bounded rings, ~1 MiB per thread (default false: off,
   * and then each hook costs one branch).
   */
  trace?: boolean;
  /**
   * Cluster mode (preview, docs/cluster.md "A node of the cluster"): this runtime is one node of a
   * group sharing the partitions over NATS JetStream. JetStream is the log of record and `dataDir` the
   * node's local cache of it; the node serves only the partitions it holds leases for and refuses the
   * others with `NotOwner`. Needs `workers` 1 (the default in cluster mode) and the `lmdb` log.
   */
  cluster?: ClusterOptions;
}

export interface ClusterOptions {
  /** NATS server URL(s), `nats://host:port`. */
  servers: string | string[];
  /** The group's name ([A-Za-z0-9_-]{1,64}): the members that share the partitions. */
  group: string;
  /** This node's id in the group ([A-Za-z0-9_-]{1,64}), unique among the members. */
  nodeId: string;
  /** The JetStream log's name (its streams are `EVT_<logName>_P<n>`); default: the group's name. */
  logName?: string;
  /** Replicas of the log's streams and of the group's lease bucket: 1 (default), 3 or 5. */
  replicas?: 1 | 3 | 5;
  /** A lease's lifetime (default 3 000 ms; see docs/cluster-ownership.md). */
  leaseMs?: number;
  /** What this node announces to the other members (at most 16 short strings; e.g. its HTTP `url`). */
  meta?: Record<string, string>;
  /**
   * How long a request forwarded to another member (`runtime.cluster.forward`) waits for its answer
   * (default 10 000 ms); after it, a command's outcome is unknown (`Unavailable`, `outcome: 'unknown'`).
   */
  forwardTimeoutMs?: number;
}

export interface ResolvedClusterOptions {
  servers: string[];
  group: string;
  nodeId: string;
  logName: string;
  replicas: 1 | 3 | 5;
  leaseMs: number | undefined;
  meta: Record<string, string>;
  forwardTimeoutMs: number | undefined;
}

export type ResolvedOptions = Required<Omit<RuntimeOptions, 'dataDir' | 'partitions' | 'domains' | 'workers' | 'onWorkerRestart' | 'workerPlugins' | 'cluster'>> & {
  /** The resolved data dir; '' for the memory log. */
  dataDir: string;
  plugins: WorkerPluginSpec[];
  partitions: number | undefined;
  workers: number | undefined;
  domainModules: string[];
  onWorkerRestart: ((worker: number, reason: string) => void) | undefined;
  cluster: ResolvedClusterOptions | undefined;
};

export function resolveOptions(o: RuntimeOptions): ResolvedOptions {
  if (!o || typeof o !== 'object') invalid('options are required: at least { dataDir } (or { log: \'memory\' })');
  const memory = o.log === 'memory';
  if (o.log !== undefined && o.log !== 'lmdb' && !memory) invalid(`log must be 'lmdb' or 'memory', got ${JSON.stringify(o.log)}`);
  if (!memory && (typeof o.dataDir !== 'string' || o.dataDir.length === 0)) invalid('dataDir is required (or log: \'memory\' for a runtime with no disk)');
  const int = (name: string, v: number | undefined, min: number, max: number, dflt: number): number => {
    if (v === undefined) return dflt;
    if (!Number.isSafeInteger(v) || v < min || v > max) invalid(`${name} must be an integer in [${min}, ${max}], got ${v}`);
    return v;
  };
  if (o.durability !== undefined && o.durability !== 'sync' && o.durability !== 'commit') invalid(`durability must be 'sync' or 'commit'`);
  if (o.coldLoads !== undefined && o.coldLoads !== 'log' && o.coldLoads !== 'owner') invalid(`coldLoads must be 'log' or 'owner', got ${JSON.stringify(o.coldLoads)}`);
  if (o.clock !== undefined && typeof o.clock?.now !== 'function') invalid('clock must be an object with a now() method (a Clock)');
  if (o.trace !== undefined && typeof o.trace !== 'boolean') invalid(`trace must be a boolean, got ${JSON.stringify(o.trace)}`);
  // `views` was a createRuntime option until the runtime stopped knowing the projections: a caller that
  // still passes it (plain JS, no type check) would silently get no read model.
  if ((o as { views?: unknown }).views !== undefined) invalid('createRuntime runs no read model: pass views to createEventide, or workerPlugins: [projectionEngine(views)]');
  const maxLiveActors = int('maxLiveActors', o.maxLiveActors, 1, 100_000_000, 200_000);
  const cluster = o.cluster === undefined ? undefined : resolveCluster(o.cluster, memory, o.workers, int);
  return {
    log: memory ? 'memory' : 'lmdb',
    dataDir: memory ? '' : resolve(o.dataDir!),
    partitions: o.partitions === undefined ? undefined : int('partitions', o.partitions, 1, 65_536, 16),
    workers: cluster ? 1 : o.workers === undefined ? undefined : int('workers', o.workers, 1, 256, 1),
    // The system types come last, so a user's module that claims one of their names is the error it reports.
    domainModules: [...new Set([...(o.domains ?? builtinDomains), ...systemDomains].map(toModuleUrl))],
    // Memory keeps nothing across a crash whatever is asked: it acknowledges once a batch is applied.
    durability: memory ? 'commit' : (o.durability ?? 'sync'),
    snapshotEvery: int('snapshotEvery', o.snapshotEvery, 0, 1_000_000_000, 100),
    maxLiveActors,
    stateCacheSize: int('stateCacheSize', o.stateCacheSize, 0, 100_000_000, maxLiveActors),
    coldLoads: o.coldLoads ?? 'log',
    mailboxCapacity: int('mailboxCapacity', o.mailboxCapacity, 1, 10_000_000, 1024),
    maxInFlightPerWorker: int('maxInFlightPerWorker', o.maxInFlightPerWorker, 1, 100_000_000, 100_000),
    idlePassivateMs: int('idlePassivateMs', o.idlePassivateMs, 0, 86_400_000, 300_000),
    maxRestartsPerMinute: int('maxRestartsPerMinute', o.maxRestartsPerMinute, 0, 1000, 10),
    snapshotThinning: int('snapshotThinning', o.snapshotThinning, 1, 1_000_000, 1),
    scavengeEveryMs: int('scavengeEveryMs', o.scavengeEveryMs, 0, 2_147_483_647, 300_000),
    storageReserveBytes: memory ? 0 : int('storageReserveBytes', o.storageReserveBytes, 0, Number.MAX_SAFE_INTEGER, DEFAULT_STORAGE_RESERVE),
    plugins: (o.workerPlugins ?? []).map((p) => ({ ...p, module: toModuleUrl(p.module) })),
    onWorkerRestart: o.onWorkerRestart,
    clock: o.clock ?? systemClock,
    trace: o.trace ?? false,
    cluster,
  };
}

const CLUSTER_NAME = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * Cluster mode's options. One actor worker only: the JetStream log keeps one writer of its local cache
 * per process (two logs catching up one cache would apply messages twice), and that log lives in the
 * worker (src/log/jetstream/jetstream-log.ts, Gotchas).
 */
function resolveCluster(c: ClusterOptions, memory: boolean, workers: number | undefined, int: (name: string, v: number | undefined, min: number, max: number, dflt: number) => number): ResolvedClusterOptions {
  if (typeof c !== 'object' || c === null) invalid('cluster must be an object { servers, group, nodeId }');
  if (memory) invalid("cluster mode needs the lmdb log (dataDir is the node's local cache of JetStream), not log: 'memory'");
  if (workers !== undefined && workers !== 1) invalid(`cluster mode runs one actor worker (the JetStream log keeps one cache writer per process); workers must be 1, got ${String(workers)}`);
  const servers = Array.isArray(c.servers) ? c.servers : [c.servers];
  if (servers.length === 0 || servers.some((s) => typeof s !== 'string' || s.length === 0 || s.length > 1024)) invalid('cluster.servers must be one or more NATS URLs (nats://host:port)');
  const name = (what: string, v: unknown): string => {
    if (typeof v !== 'string' || !CLUSTER_NAME.test(v)) invalid(`cluster.${what} must match [A-Za-z0-9_-]{1,64}, got ${JSON.stringify(String(v).slice(0, 80))}`);
    return v;
  };
  if (c.replicas !== undefined && c.replicas !== 1 && c.replicas !== 3 && c.replicas !== 5) invalid(`cluster.replicas must be 1, 3 or 5, got ${String(c.replicas)}`);
  return {
    servers,
    group: name('group', c.group),
    nodeId: name('nodeId', c.nodeId),
    logName: name('logName', c.logName ?? c.group),
    replicas: c.replicas ?? 1,
    leaseMs: c.leaseMs === undefined ? undefined : int('cluster.leaseMs', c.leaseMs, 300, 600_000, 3000),
    // Checked in full by the group (records.ts: at most 16 entries, bounded lengths) when it joins.
    forwardTimeoutMs: c.forwardTimeoutMs === undefined ? undefined : int('cluster.forwardTimeoutMs', c.forwardTimeoutMs, 100, 600_000, 10_000),
    meta: c.meta === undefined ? {} : typeof c.meta === 'object' && c.meta !== null && !Array.isArray(c.meta) ? { ...c.meta } : invalid('cluster.meta must be an object of strings'),
  };
}

/** 64 MiB: more than the largest batch a drain writes, small next to any real disk. */
export const DEFAULT_STORAGE_RESERVE = 64 * 1024 * 1024;

/**
 * One actor worker for the LMDB log unless asked for more ("one writer per log"): LMDB runs one write
 * transaction at a time per environment, so with two workers each one's commit waits for the other's
 * transaction, and the callers' commands split into two half-size commits, each paying a commit's fixed
 * cost (thread wake-ups, lmdb-js's write start, the flush). One worker committing everything measured
 * half the CPU per command at 64 callers and a lower p99 at 1k and 5k cmd/s on a 2-core box, and the
 * same CPU at 4 096 callers (bench/README.md, "One committer per log"). More workers still pay off
 * when deciders are costly next to the ~10 us per command LMDB's write thread spends. The memory log
 * has no shared writer: one host per core there.
 */
export function defaultWorkers(partitions: number, log: 'lmdb' | 'memory'): number {
  if (log === 'lmdb') return 1;
  return Math.max(1, Math.min(availableParallelism(), partitions));
}

function invalid(message: string): never {
  throw new RuntimeError(ErrorCodes.InvalidOptions, message);
}
