/** The options of `joinGroup`: validated and filled with defaults once, before anything connects. */
import type { NatsConnection } from '@nats-io/transport-node';
import { ErrorCodes, RuntimeError } from '../kernel/index.js';
import { boundedMeta, NAME_PATTERN } from './records.js';

/** Why a node stopped serving a partition (`onRevoked`). */
export type RevokeReason =
  /** It could not prove its lease still valid in time (renewals failing, the process paused, the event loop stalled). */
  | 'expired'
  /** Its renewal found another owner's write: the lease was taken. */
  | 'lost'
  /** The partition is assigned to another member now: handed over (the key is released right after). */
  | 'released'
  /** `leave()`: handed over as the node leaves the group. */
  | 'leaving'
  /** `close()`: the node stops without releasing (other members take over once the lease lapses). */
  | 'closed'
  /** `onAcquired` threw or rejected: the catch-up failed, so the lease is released again. */
  | 'failed';

/** A live member of the group, as this node sees it. */
export interface Member {
  nodeId: string;
  /** What the member announced about itself (`GroupOptions.meta`): an address, a version. */
  meta: Record<string, string>;
}

export interface GroupOptions {
  /** An open NATS connection to use (not closed by the group), or `servers` to have the group open its own. */
  connection?: NatsConnection;
  /** NATS server URLs (`nats://host:port`), when no `connection` is given. */
  servers?: string | string[];
  /** The group's name ([A-Za-z0-9_-]{1,64}): one KV bucket, `eventide-cluster-<group>`. */
  group: string;
  /** This node's id in the group ([A-Za-z0-9_-]{1,64}); unique among the members. */
  nodeId: string;
  /** The partition count P: fixed for the group by its first member; a member with another P is refused. */
  partitions: number;
  /** A lease's lifetime after each successful write (default 3 000 ms); renewed every third of it. */
  leaseMs?: number;
  /** Safety margin (default leaseMs / 6): a holder stops that much early, a taker waits that much longer. */
  marginMs?: number;
  /** A member silent this long is dropped from the live set (default leaseMs); it beats every third of it. */
  memberTimeoutMs?: number;
  /** Replicas of the bucket when this member creates it (default 3; 1 for a single nats-server). */
  replicas?: 1 | 3 | 5;
  /** How long `joinGroup` keeps retrying while NATS is unreachable or the bucket not ready (default 30 000 ms). */
  joinTimeoutMs?: number;
  /** Announced with the heartbeat (at most 16 string entries). */
  meta?: Record<string, string>;
  /**
   * This node took partition `partition` with `epoch`. The partition counts as served (`epochOf`
   * answers the epoch) only once the returned promise resolves: catch up from the log there. `signal`
   * aborts when the lease is lost meanwhile. A throw or rejection releases the lease (`failed`).
   */
  onAcquired?: (partition: number, epoch: number, signal: AbortSignal) => void | Promise<void>;
  /**
   * This node stopped serving `partition` (its `epochOf` is already null). For `released` and `leaving`
   * the key is released only after the returned promise settles (at most leaseMs): finish in-flight work.
   */
  onRevoked?: (partition: number, epoch: number, reason: RevokeReason) => void | Promise<void>;
  /**
   * A renewal of a lease this node holds (serving or catching up) succeeded: it may now serve
   * `partition` until `validUntil`, on this thread's `performance.now()` clock. For a holder that must
   * pass its validity on (the runtime's actor worker, which checks it before each append).
   */
  onRenewed?: (partition: number, epoch: number, validUntil: number) => void;
  /** The live member set changed (sorted by node id). */
  onMembersChanged?: (members: Member[]) => void;
  /** A background step failed (a renewal, a heartbeat, the watcher): for logs; the group retries by itself. */
  onError?: (err: RuntimeError) => void;
}

export interface ResolvedGroupOptions {
  connection: NatsConnection | undefined;
  servers: string[];
  group: string;
  nodeId: string;
  partitions: number;
  leaseMs: number;
  marginMs: number;
  memberTimeoutMs: number;
  replicas: 1 | 3 | 5;
  joinTimeoutMs: number;
  meta: Record<string, string>;
  /** How often each held lease is renewed: a third of the lease, so two renewals in a row may fail. */
  renewEveryMs: number;
  /** How often the heartbeat is written. */
  heartbeatMs: number;
  /** How often the group wakes to fence, renew, beat and rebalance. */
  tickMs: number;
  /**
   * Bound on one KV request (leaseMs / 5, within [250, 2000] ms): a renewal that takes longer is
   * abandoned and sent again, so one request lost in a failover does not eat a third of the lease.
   */
  requestTimeoutMs: number;
  onAcquired: NonNullable<GroupOptions['onAcquired']>;
  onRevoked: NonNullable<GroupOptions['onRevoked']>;
  onRenewed: NonNullable<GroupOptions['onRenewed']>;
  onMembersChanged: NonNullable<GroupOptions['onMembersChanged']>;
  onError: NonNullable<GroupOptions['onError']>;
}

/** Leases are one key each, watched by every member: a few thousand is plenty for a handful of nodes. */
const MAX_PARTITIONS = 4096;

export function resolveGroupOptions(o: GroupOptions): ResolvedGroupOptions {
  if (typeof o !== 'object' || o === null) invalid('joinGroup needs an options object');
  const name = (what: string, v: unknown): string => {
    if (typeof v !== 'string' || !NAME_PATTERN.test(v)) invalid(`${what} must match [A-Za-z0-9_-]{1,64}, got ${JSON.stringify(String(v).slice(0, 80))}`);
    return v;
  };
  const int = (what: string, v: unknown, min: number, max: number, dflt: number): number => {
    if (v === undefined) return dflt;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) invalid(`${what} must be an integer in [${min}, ${max}], got ${String(v)}`);
    return v;
  };
  const servers = o.servers === undefined ? [] : Array.isArray(o.servers) ? o.servers : [o.servers];
  if (o.connection === undefined && (servers.length === 0 || servers.some((s) => typeof s !== 'string' || s.length === 0 || s.length > 1024))) {
    invalid('give either a NATS connection or servers (nats://host:port URLs)');
  }
  for (const cb of ['onAcquired', 'onRevoked', 'onRenewed', 'onMembersChanged', 'onError'] as const) {
    if (o[cb] !== undefined && typeof o[cb] !== 'function') invalid(`${cb} must be a function`);
  }
  if (o.meta !== undefined && (typeof o.meta !== 'object' || o.meta === null || Array.isArray(o.meta))) invalid('meta must be an object of strings');
  if (o.replicas !== undefined && o.replicas !== 1 && o.replicas !== 3 && o.replicas !== 5) invalid(`replicas must be 1, 3 or 5, got ${String(o.replicas)}`);
  const leaseMs = int('leaseMs', o.leaseMs, 300, 600_000, 3000);
  // The holder's window (leaseMs - margin) must leave room for two renewals a third of a lease apart.
  const marginMs = int('marginMs', o.marginMs, 0, Math.floor(leaseMs / 3), Math.round(leaseMs / 6));
  const memberTimeoutMs = int('memberTimeoutMs', o.memberTimeoutMs, 300, 600_000, leaseMs);
  return {
    connection: o.connection,
    servers,
    group: name('group', o.group),
    nodeId: name('nodeId', o.nodeId),
    partitions: o.partitions === undefined ? invalid('partitions is required') : int('partitions', o.partitions, 1, MAX_PARTITIONS, 0),
    leaseMs,
    marginMs,
    memberTimeoutMs,
    replicas: o.replicas ?? 3,
    joinTimeoutMs: int('joinTimeoutMs', o.joinTimeoutMs, 0, 3_600_000, 30_000),
    meta: boundedMeta(o.meta ?? {}),
    renewEveryMs: Math.floor(leaseMs / 3),
    heartbeatMs: Math.floor(memberTimeoutMs / 3),
    tickMs: Math.max(10, Math.min(100, Math.floor(leaseMs / 30))),
    requestTimeoutMs: Math.max(250, Math.min(2000, Math.floor(leaseMs / 5))),
    onAcquired: o.onAcquired ?? (() => {}),
    onRevoked: o.onRevoked ?? (() => {}),
    onRenewed: o.onRenewed ?? (() => {}),
    onMembersChanged: o.onMembersChanged ?? (() => {}),
    onError: o.onError ?? (() => {}),
  };
}

function invalid(message: string): never {
  throw new RuntimeError(ErrorCodes.InvalidOptions, message);
}
