/**
 * Cluster mode, on the main thread: this runtime as one node of a partition group (src/cluster/). The
 * group decides which partitions this node holds leases for; this module passes that on to the actor
 * worker and answers "does this node serve partition p?" for the main thread's reads and routing.
 *
 * The protocol with the worker (protocol.ts), in the order the group calls back:
 * - `onAcquired(p, epoch)` sends `acquire` with the lease's deadline; the worker stops following the
 *   partition, catches it up from JetStream and confirms its tip (a takeover marker), reloads its
 *   writer's head and serves it, then answers. Only then does the
 *   promise resolve, so the group counts the partition as served (`epochOf`) only once the worker does.
 * - `onRenewed(p, epoch, validUntil)` sends `lease`: the worker's own copy of the deadline moves on.
 *   The worker stops using a lease whose deadline passed by itself (served-partitions.ts), so a stalled
 *   main thread never lets it append on a lapsed lease.
 * - `onRevoked(p)` sends `revoke`: the worker stops serving it at once (and follows it again); the main
 *   thread forgets what it cached of the partition (the next owner writes it now). On a handover (`released`, `leaving`) the
 *   worker answers once its batches in flight are through, and the group releases the key only then.
 *
 * Gotchas:
 * - The group's times are this thread's `performance.now()`; the worker's are its own
 *   `performance.now()`: each deadline is converted when it is posted, with the offset measured for the
 *   thread it goes to (thread-clock.ts, worker-slot.ts), never later than it is.
 * - The cluster folder is imported on first use only, so the embedded runtime never loads the NATS client.
 * - One actor worker (options.ts says why): every partition's messages go to slot 0.
 */
import { ErrorCodes, RuntimeError } from '../kernel/index.js';
import type { AuditRequest, ForwardHandler, ForwardLink, ForwardRequest, ForwardResult, Member, PartitionGroup } from '../cluster/index.js';
import type { ResolvedClusterOptions } from './options.js';
import type { PartitionResumeResult } from './protocol.js';
import { notOwner } from './served-partitions.js';
import type { WorkerSlot } from './worker-slot.js';

/** The group's default lease (cluster/options.ts), for a link opened before the group answered. */
const DEFAULT_LEASE_MS = 3000;

export interface ClusterNodeHooks {
  /** `partition` is served from now on, caught up to `offset` (its next offset). */
  served(partition: number, offset: number): void;
  /** `partition` is no longer served by this node. */
  unserved(partition: number): void;
}

/** What `runtime.partitions()` says of a partition in cluster mode. */
export interface PartitionOwnership {
  served: boolean;
  /** The lease epoch: this node's while it serves the partition, else the owner's when known. */
  epoch?: number;
  /** The owner's node id, when known. */
  owner?: string;
}

export class ClusterNode {
  readonly nodeId: string;
  readonly group: string;
  readonly #servers: string[];
  readonly #forwardTimeoutMs: number | undefined;
  readonly #slot: WorkerSlot;
  readonly #nextRid: () => number;
  readonly #hooks: ClusterNodeHooks;
  #group: PartitionGroup | undefined;
  /** Resolves once `joinGroup` answered: the group may call back before it does. */
  readonly #joined: Promise<PartitionGroup>;
  #resolveJoined!: (group: PartitionGroup) => void;
  /** The forwarding link, opened on first use (`serve` or `forward`): see cluster/forward-link.ts. */
  #link: Promise<ForwardLink> | undefined;
  #linkClosed = false;

  private constructor(o: ResolvedClusterOptions, slot: WorkerSlot, nextRid: () => number, hooks: ClusterNodeHooks) {
    this.nodeId = o.nodeId;
    this.group = o.group;
    this.#servers = o.servers;
    this.#forwardTimeoutMs = o.forwardTimeoutMs;
    this.#slot = slot;
    this.#nextRid = nextRid;
    this.#hooks = hooks;
    this.#joined = new Promise((resolve) => (this.#resolveJoined = resolve));
  }

  /** Joins the group: the worker (already started, serving nothing) is given each partition this node takes. */
  static async join(o: ResolvedClusterOptions, partitions: number, slot: WorkerSlot, nextRid: () => number, hooks: ClusterNodeHooks): Promise<ClusterNode> {
    const node = new ClusterNode(o, slot, nextRid, hooks);
    const { joinGroup } = await import('../cluster/index.js');
    const group = await joinGroup({
      servers: o.servers,
      group: o.group,
      nodeId: o.nodeId,
      partitions,
      replicas: o.replicas,
      ...(o.leaseMs !== undefined ? { leaseMs: o.leaseMs } : {}),
      meta: o.meta,
      onAcquired: (p, epoch) => node.#acquire(p, epoch),
      // Converted when posted, with the clock of the thread it goes to (a restarted worker is a new one).
      onRenewed: (p, epoch, validUntil) =>
        slot.send((clock) => {
          const until = clock.toThread(validUntil);
          return until === null ? null : { kind: 'lease', partition: p, epoch, until };
        }),
      onRevoked: async (p, epoch, reason) => {
        // The main thread first (its reads check the group, which already says no), then the worker.
        hooks.unserved(p);
        if (reason !== 'released' && reason !== 'leaving') return slot.send({ kind: 'revoke', partition: p, epoch });
        // A handover: the group releases the key once the worker's batches in flight are through.
        const rid = nextRid();
        await slot.request(rid, { kind: 'revoke', partition: p, epoch, rid }).catch(() => undefined);
      },
    });
    node.#group = group;
    node.#resolveJoined(group);
    return node;
  }

  async #acquire(partition: number, epoch: number): Promise<void> {
    const group = await this.#joined;
    const validUntil = group.validUntil(partition);
    if (validUntil === null) throw notOwner(partition, 'its lease went before the catch-up began');
    const rid = this.#nextRid();
    const result = await this.#slot.request<PartitionResumeResult>(rid, (clock) => {
      const until = clock.toThread(validUntil);
      if (until === null) throw notOwner(partition, 'its worker is starting');
      return { kind: 'acquire', rid, partition, epoch, until };
    });
    this.#hooks.served(partition, result.offset);
  }

  /**
   * A fresh worker thread (after a crash, a storage failure or a fence) starts with no lease: it is
   * given again every partition the group still holds. One that fails stays refused (`NotOwner`) until
   * the group moves it (docs/cluster.md, what v1 leaves out).
   */
  reacquire(): void {
    const group = this.#group;
    if (group === undefined) return;
    for (let p = 0; p < group.partitions; p++) {
      const epoch = group.epochOf(p);
      if (epoch !== null) this.#acquire(p, epoch).catch(() => undefined);
    }
  }

  /** Whether this node serves `partition` now (holds a lease it can prove valid, caught up). */
  serves(partition: number): boolean {
    return this.#group?.epochOf(partition) != null;
  }

  /** `NotOwner` for a partition this node does not serve, naming the owner when this node knows it. */
  refusal(partition: number, why = 'another node owns it, or it is changing hands'): RuntimeError {
    const owner = this.#group?.ownerOf(partition);
    return notOwner(partition, why, owner && owner.nodeId !== this.nodeId ? owner.nodeId : null);
  }

  /** A `NotOwner` from the worker (which does not know the owner), with the owner when this node knows it. */
  withOwner(err: unknown, partition: number): unknown {
    if (!RuntimeError.is(err, ErrorCodes.NotOwner) || err.details.owner !== undefined) return err;
    const owner = this.#group?.ownerOf(partition);
    return owner && owner.nodeId !== this.nodeId ? notOwner(partition, 'it moved to another node', owner.nodeId) : err;
  }

  ownership(partition: number): PartitionOwnership {
    const owner = this.#group?.ownerOf(partition);
    const served = this.serves(partition);
    return { served, ...(owner ? { epoch: owner.epoch, owner: owner.nodeId } : {}) };
  }

  /** The live members as this node sees them (none before it joined). */
  members(): Member[] {
    return this.#group?.members() ?? [];
  }

  /** Answers the requests forwarded to this node with `handler` (see runtime-api.ts `ClusterLink`). */
  async serve(handler: ForwardHandler): Promise<void> {
    await (await this.#openLink()).serve(handler);
  }

  async forward<R extends ForwardRequest>(nodeId: string, request: R): Promise<ForwardResult<R>> {
    return (await this.#openLink()).forward(nodeId, request);
  }

  #openLink(): Promise<ForwardLink> {
    if (this.#linkClosed) return Promise.reject(new RuntimeError(ErrorCodes.RuntimeClosed, 'the runtime is closed or closing', {}, true));
    if (this.#link !== undefined) return this.#link;
    const link = import('../cluster/index.js').then(({ openForwardLink }) =>
      openForwardLink({
        servers: this.#servers,
        group: this.group,
        nodeId: this.nodeId,
        leaseMs: this.#group?.leaseMs ?? DEFAULT_LEASE_MS,
        ...(this.#forwardTimeoutMs !== undefined ? { timeoutMs: this.#forwardTimeoutMs } : {}),
      }),
    );
    this.#link = link;
    // A failed open (NATS unreachable) is not remembered: the next call tries again.
    link.catch(() => {
      if (this.#link === link) this.#link = undefined;
    });
    return link;
  }

  /**
   * A stream deletion's audit record (appended by the stream's owner once the deletion is durable): here
   * (`local`) when this node serves the audit stream's `partition`, else sent to the member that does.
   * The one request the runtime forwards itself: it is part of an operation this node already applied,
   * not a client's request. A `NotOwner` on the way (no owner known, the owner gone or changing hands)
   * is answered naming no owner, so the HTTP layer does not forward the whole deletion to the audit
   * stream's owner: the client retries it here or anywhere with the same `commandId` (the deletion
   * answers `changed: false`, and the record, under an id derived from the operation, is appended once).
   */
  async recordAudit(partition: number, record: AuditRequest['record'], commandId: string, local: () => Promise<unknown>): Promise<void> {
    try {
      if (this.serves(partition)) {
        await local();
        return;
      }
      const owner = this.#group?.ownerOf(partition);
      if (!owner || owner.nodeId === this.nodeId) throw this.refusal(partition);
      await this.forward(owner.nodeId, { op: 'audit', record, commandId });
    } catch (err) {
      if (!RuntimeError.is(err, ErrorCodes.NotOwner)) throw err;
      throw notOwner(partition, 'the audit stream is changing hands: the operation is done, its audit record not yet; retry it with the same commandId', null);
    }
  }

  /**
   * Stops answering forwarded requests (senders get no responders: `NotOwner`, and retry elsewhere)
   * once those received are answered, and closes the link's connection. Before `leave()`: while it
   * answers, this node still owns what it answers for.
   */
  async stopForwarding(): Promise<void> {
    this.#linkClosed = true;
    const link = await this.#link?.catch(() => undefined);
    await link?.close();
  }

  /** Hands every partition over at once (the other members take them without waiting for a lease to lapse). */
  async leave(): Promise<void> {
    await this.#group?.leave();
  }
}
