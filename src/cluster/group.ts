/**
 * A node's membership in a partition group: Kafka's consumer group, on a JetStream KV bucket. The node
 * heartbeats its member key and watches the bucket (presence.ts), computes the assignment from the
 * live members (assignment.ts), takes the leases of its partitions when they are free or lapsed,
 * renews them by compare-and-set, releases the ones it is no longer assigned, and stops serving any
 * lease it cannot prove valid (lease-rules.ts has the timing argument; docs/cluster-ownership.md the
 * whole design).
 *
 * Everything runs on one event loop and one timer (`#tick`), plus the watcher's and the requests'
 * callbacks; there is no lock because nothing here awaits while holding a decision: each step reads
 * the state, starts a request, and re-checks the state when the answer comes.
 *
 * Gotchas:
 * - `#fence()` runs first on every entry point (the timer, `epochOf`, every answer): after a
 *   SIGSTOP/SIGCONT the pending I/O callbacks may run before the first timer, and none of them may
 *   act on a lease that expired while the process was stopped.
 * - A lease's validity counts from when its last successful write was *sent*, never from the ack.
 * - A timed-out write may have been stored. A timed-out take is not adopted (the lease then lapses
 *   and is taken again with the next epoch); a timed-out renewal is recognised by its own epoch.
 * - Callbacks are user code: they may throw, call back into the group, or take long. They are called
 *   after the state changed (so `epochOf` already answers the new truth inside them) and are awaited
 *   only where the protocol needs it (catch-up before serving, finishing before a release).
 */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { ErrorCodes, isErrorCode, RuntimeError } from '../kernel/index.js';
import { assignPartitions } from './assignment.js';
import { GroupBucket, isRevisionConflict, type BucketEntry } from './group-bucket.js';
import { holderMayServe, planTake, seenAfterConflict, type LeaseTiming, type OwnWrite, type SeenLease, type TakePlan } from './lease-rules.js';
import { Presence } from './presence.js';
import { resolveGroupOptions, type GroupOptions, type Member, type ResolvedGroupOptions, type RevokeReason } from './options.js';
import { CONFIG_KEY, decodeConfig, decodeLease, encodeConfig, encodeLease, leaseKey } from './records.js';

/** A lease this node holds: catching up (`serving` false) or serving. */
interface Held {
  epoch: number;
  /** The key's revision after this node's last successful write. */
  revision: number;
  /** When that write was sent (monotonic): the lease is valid until `sentAt + leaseMs - marginMs`. */
  sentAt: number;
  serving: boolean;
  /** Aborted when the lease goes: tells a running catch-up to stop. */
  abort: AbortController;
  /** The renewal in flight, if any (one at a time per partition). */
  renewal: Promise<void> | undefined;
  lastRenewalAt: number;
}

/** Bound on each request while joining (creating the bucket may wait for its stream's replicas). */
const JOIN_REQUEST_TIMEOUT_MS = 5000;

/** Joins `options.group` and starts taking this node's share of the partitions. */
export async function joinGroup(options: GroupOptions): Promise<PartitionGroup> {
  const o = resolveGroupOptions(options);
  const connection = o.connection ?? (await connectTo(o.servers, o.nodeId));
  try {
    // A bucket just created by another member may not take writes yet (its stream's replicas are still
    // electing a leader), and a nats-server may be restarting: retry what can pass, until the deadline.
    const deadline = performance.now() + o.joinTimeoutMs;
    const bucket = await retrying(() => GroupBucket.open(connection, `eventide-cluster-${o.group}`, o.replicas, JOIN_REQUEST_TIMEOUT_MS), deadline);
    await retrying(() => checkConfig(bucket, o), deadline);
    const group = new PartitionGroup(o, connection, o.connection === undefined, bucket);
    await group.start();
    return group;
  } catch (err) {
    if (o.connection === undefined) await connection.close().catch(() => {});
    throw err;
  }
}

async function connectTo(servers: string[], nodeId: string): Promise<NatsConnection> {
  try {
    // Reconnect forever, quickly: a member that gives up on NATS would only be a member that self-fences.
    return await connect({ servers, name: `eventide-${nodeId}`, maxReconnectAttempts: -1, reconnectTimeWait: 250 });
  } catch (err) {
    throw new RuntimeError(ErrorCodes.Unavailable, `cannot reach NATS at ${servers.join(', ')}: ${(err as Error).message}`, { servers, retryAfterMs: 1000 }, true);
  }
}

/** Runs `step` until it succeeds, again after each `Unavailable` failure while `deadline` is ahead. */
async function retrying<T>(step: () => Promise<T>, deadline: number): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await step();
    } catch (err) {
      if (!RuntimeError.is(err, ErrorCodes.Unavailable) || performance.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, Math.min(1000, 100 * 2 ** attempt)));
    }
  }
}

/** The partition count is the group's, fixed by its first member: a member with another count is refused. */
async function checkConfig(bucket: GroupBucket, o: ResolvedGroupOptions): Promise<void> {
  try {
    await bucket.create(CONFIG_KEY, encodeConfig({ partitions: o.partitions }), JOIN_REQUEST_TIMEOUT_MS);
    return;
  } catch (err) {
    if (!isRevisionConflict(err)) throw asUnavailable(err, 'cannot write the group config');
  }
  const entry = await bucket.get(CONFIG_KEY, JOIN_REQUEST_TIMEOUT_MS).catch((err: unknown) => {
    throw asUnavailable(err, 'cannot read the group config');
  });
  const config = entry?.value ? decodeConfig(entry.value) : undefined;
  if (config?.partitions !== o.partitions) {
    throw new RuntimeError(ErrorCodes.InvalidOptions, `group ${o.group} has ${config?.partitions ?? 'an unreadable'} partitions; this node was started with ${o.partitions}`, {
      group: o.group,
      partitions: o.partitions,
      groupPartitions: config?.partitions ?? null,
    });
  }
}

export class PartitionGroup {
  readonly nodeId: string;
  readonly partitions: number;
  readonly leaseMs: number;
  readonly #o: ResolvedGroupOptions;
  readonly #timing: LeaseTiming;
  readonly #connection: NatsConnection;
  readonly #ownsConnection: boolean;
  readonly #bucket: GroupBucket;
  readonly #presence: Presence;
  readonly #held = new Map<number, Held>();
  readonly #seen = new Map<number, SeenLease>();
  readonly #own = new Map<number, OwnWrite>();
  readonly #taking = new Set<number>();
  readonly #releasing = new Set<number>();
  /** Partitions not to take again before this time (a failed catch-up). */
  readonly #cooldown = new Map<number, number>();
  /** Requests in flight, so `close()` can wait for them. */
  readonly #inFlight = new Set<Promise<unknown>>();
  #timer: NodeJS.Timeout | undefined;
  #live: Member[] = [];
  #liveKey = '';
  #assignment: (string | undefined)[] = [];
  #state: 'running' | 'leaving' | 'closed' = 'running';

  /** Use `joinGroup`. */
  constructor(o: ResolvedGroupOptions, connection: NatsConnection, ownsConnection: boolean, bucket: GroupBucket) {
    this.#o = o;
    this.nodeId = o.nodeId;
    this.partitions = o.partitions;
    this.leaseMs = o.leaseMs;
    this.#timing = { leaseMs: o.leaseMs, marginMs: o.marginMs };
    this.#connection = connection;
    this.#ownsConnection = ownsConnection;
    this.#bucket = bucket;
    this.#presence = new Presence(bucket, o, {
      fence: () => this.#fence(),
      onLeaseEntry: (p, entry, now) => this.#observeLease(p, entry.revision, entry.value === null ? null : decodeLease(entry.value, entry.revision, this.leaseMs), now),
      track: (promise) => this.#track(promise),
      report: (err, what) => this.#report(err, what),
    });
    this.#live = this.#presence.live();
  }

  /** @internal Starts the watcher, the first heartbeat and the timer. */
  async start(): Promise<void> {
    await this.#presence.start();
    this.#timer = setInterval(() => this.#tick(), this.#o.tickMs);
    this.#tick();
  }

  /**
   * This node's epoch on `partition` while it serves it (holds a lease it can prove valid, caught up),
   * else null. The log's fencing asks this before each append.
   */
  epochOf(partition: number): number | null {
    this.#fence();
    const held = this.#held.get(partition);
    return held?.serving ? held.epoch : null;
  }

  /**
   * Until when this node may use its lease on `partition` (serving or still catching up), on this
   * thread's `performance.now()` clock: the holder's own deadline (lease-rules.ts), or null when it
   * holds none. `onRenewed` announces each later one.
   */
  validUntil(partition: number): number | null {
    this.#fence();
    const held = this.#held.get(partition);
    return held === undefined ? null : this.#deadlineOf(held);
  }

  #deadlineOf(held: Held): number {
    return held.sentAt + this.#timing.leaseMs - this.#timing.marginMs;
  }

  /** The partitions this node serves, ascending. */
  owned(): number[] {
    this.#fence();
    return [...this.#held].filter(([, h]) => h.serving).map(([p]) => p).sort((a, b) => a - b);
  }

  /**
   * Who owns `partition` as this node last saw the bucket (for forwarding): this node while it serves
   * it, else the lease's owner and epoch, or null when it is free or unknown. May be stale by a
   * handover: the owner itself refuses what it does not own.
   */
  ownerOf(partition: number): { nodeId: string; epoch: number } | null {
    const epoch = this.epochOf(partition);
    if (epoch !== null) return { nodeId: this.nodeId, epoch };
    const record = this.#seen.get(partition)?.record;
    return record && record.owner !== null && record.owner !== '?' ? { nodeId: record.owner, epoch: record.epoch } : null;
  }

  /** The member `partition` is assigned to by the current live set (undefined while no one is live). */
  assignedTo(partition: number): string | undefined {
    return this.#assignment[partition];
  }

  /** The live members as this node sees them, sorted by node id. */
  members(): Member[] {
    return this.#live.map((m) => ({ nodeId: m.nodeId, meta: { ...m.meta } }));
  }

  /** Hands every partition over (stop serving, then release the key), removes this member, and closes. */
  async leave(): Promise<void> {
    if (this.#state !== 'running') return;
    this.#state = 'leaving';
    await Promise.all([...this.#held.keys()].map((p) => this.#release(p, 'leaving')));
    await this.#presence.leave();
    await this.close();
  }

  /**
   * Stops serving everything (`closed`) and stops, without releasing: the other members take over
   * once the leases lapse, as if this node had died. `leave()` hands over at once.
   */
  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    clearInterval(this.#timer);
    this.#presence.stop();
    for (const p of [...this.#held.keys()]) this.#revoke(p, 'closed');
    await Promise.allSettled([...this.#inFlight]);
    if (this.#ownsConnection) await this.#connection.close().catch(() => {});
  }

  // --- the loop -------------------------------------------------------------------------------------

  #tick(): void {
    if (this.#state !== 'running') return;
    const now = this.#fence();
    this.#presence.tick(now);
    this.#refreshMembers();
    for (const [p, held] of this.#held) {
      if (this.#assignment[p] !== this.nodeId) void this.#release(p, 'released');
      else if (held.renewal === undefined && now - held.lastRenewalAt >= this.#o.renewEveryMs) this.#renew(p, held);
    }
    // Take nothing before the watcher has shown this node's own heartbeat: until then it has not seen
    // the other members either, and would take partitions only to hand them over a moment later.
    if (!this.#presence.echoed) return;
    for (let p = 0; p < this.partitions; p++) {
      if (this.#assignment[p] === this.nodeId && !this.#held.has(p) && !this.#taking.has(p) && !this.#releasing.has(p) && !((this.#cooldown.get(p) ?? 0) > now)) this.#take(p, now);
    }
  }

  /** Stops serving every lease this node can no longer prove valid; answers the time it checked at. */
  #fence(): number {
    const now = performance.now();
    for (const [p, held] of this.#held) {
      if (!holderMayServe(held.sentAt, now, this.#timing)) {
        // Remembered so the node may take it straight back if nobody else wrote the key since.
        this.#own.set(p, { revision: held.revision, epoch: held.epoch });
        this.#revoke(p, 'expired');
      }
    }
    return now;
  }

  #refreshMembers(): void {
    const live = this.#presence.live();
    const key = live.map((m) => m.nodeId).join('\n');
    if (key === this.#liveKey) return;
    this.#live = live;
    this.#liveKey = key;
    this.#assignment = assignPartitions(live.map((m) => m.nodeId), this.partitions);
    this.#call(() => this.#o.onMembersChanged(this.members()));
  }

  // --- leases -------------------------------------------------------------------------------------

  #take(p: number, now: number): void {
    const own = this.#own.get(p);
    const seen = this.#seen.get(p);
    if (own !== undefined && seen !== undefined && seen.revision > own.revision) this.#own.delete(p);
    const plan = planTake(seen, this.#own.get(p), now, this.#o.marginMs);
    if (plan === undefined) return;
    this.#taking.add(p);
    const sentAt = performance.now();
    const value = encodeLease({ owner: this.nodeId, epoch: plan.epoch, expiresAfterMs: this.leaseMs });
    const write = plan.kind === 'create' ? this.#bucket.create(leaseKey(p), value, this.#o.requestTimeoutMs) : this.#bucket.update(leaseKey(p), value, plan.revision, this.#o.requestTimeoutMs);
    void this.#track(write)
      .then(
        (revision) => this.#acquired(p, plan, revision, sentAt),
        (err: unknown) => this.#takeFailed(p, plan, err),
      )
      .finally(() => this.#taking.delete(p));
  }

  #acquired(p: number, plan: TakePlan, revision: number, sentAt: number): void {
    this.#own.delete(p);
    this.#observeLease(p, revision, { owner: this.nodeId, epoch: plan.epoch, expiresAfterMs: this.leaseMs }, performance.now());
    if (this.#state !== 'running') {
      // Taken while leaving or closing: never served, so no events; a leaving node frees it again.
      if (this.#state === 'leaving') void this.#track(this.#bucket.update(leaseKey(p), encodeLease({ owner: null, epoch: plan.epoch, expiresAfterMs: 0 }), revision, this.#o.requestTimeoutMs)).catch(() => {});
      return;
    }
    const held: Held = { epoch: plan.epoch, revision, sentAt, serving: false, abort: new AbortController(), renewal: undefined, lastRenewalAt: sentAt };
    this.#held.set(p, held);
    // The answer may come after the lease is already too old to use (the process was paused meanwhile).
    this.#fence();
    if (this.#held.get(p) !== held) return;
    void (async () => {
      try {
        await this.#o.onAcquired(p, held.epoch, held.abort.signal);
      } catch (err) {
        if (this.#held.get(p) !== held) return;
        this.#report(err, `catching up partition ${p} failed`);
        this.#cooldown.set(p, performance.now() + this.leaseMs);
        return void this.#release(p, 'failed');
      }
      this.#fence();
      if (this.#held.get(p) === held) held.serving = true;
    })();
  }

  async #takeFailed(p: number, plan: TakePlan, err: unknown): Promise<void> {
    if (!isRevisionConflict(err)) return this.#report(err, `taking partition ${p} failed`);
    // Someone wrote the key since this node looked (or a write it saw acknowledged was lost): read
    // what is there now and believe it, even at a lower revision (seenAfterConflict), and wait from there.
    if (plan.kind === 'update' && plan.why === 'own') this.#own.delete(p);
    await this.#reread(p, true);
  }

  #renew(p: number, held: Held): void {
    const sentAt = performance.now();
    held.lastRenewalAt = sentAt;
    const value = encodeLease({ owner: this.nodeId, epoch: held.epoch, expiresAfterMs: this.leaseMs });
    held.renewal = this.#track(this.#bucket.update(leaseKey(p), value, held.revision, this.#o.requestTimeoutMs))
      .then(
        (revision) => {
          held.revision = revision;
          if (this.#held.get(p) !== held) {
            // Fenced while this renewal was in flight: it is still this node's latest write to the key.
            const own = this.#own.get(p);
            if (own?.epoch === held.epoch && own.revision < revision) own.revision = revision;
            return;
          }
          held.sentAt = Math.max(held.sentAt, sentAt);
          this.#observeLease(p, revision, { owner: this.nodeId, epoch: held.epoch, expiresAfterMs: this.leaseMs }, performance.now());
          this.#fence();
          if (this.#held.get(p) === held) void this.#call(() => this.#o.onRenewed(p, held.epoch, this.#deadlineOf(held)));
        },
        async (err: unknown) => {
          this.#fence();
          if (!isRevisionConflict(err)) {
            // NATS is failing over (a server died, a stream elects its leader): try again a quarter of
            // the period later, not a whole one, so a short outage eats as little of the lease as it can.
            held.lastRenewalAt = Math.min(held.lastRenewalAt, performance.now() - (this.#o.renewEveryMs * 3) / 4);
            return this.#report(err, `renewing partition ${p} failed`);
          }
          const entry = await this.#reread(p);
          if (entry === undefined) return; // unknown: the fence stops serving if it lasts
          const record = entry?.value ? decodeLease(entry.value, entry.revision, this.leaseMs) : null;
          // A renewal that timed out but was stored moved the revision: still this node's own epoch, so
          // adopt the revision (not the time: the lease stays valid from the last write known to be ours).
          if (entry !== null && record?.owner === this.nodeId && record.epoch === held.epoch) held.revision = entry.revision;
          else if (this.#held.get(p) === held) this.#revoke(p, 'lost');
        },
      )
      .finally(() => {
        held.renewal = undefined;
      });
  }

  /** Stops serving `p` at once (no I/O), and tells the listener. */
  #revoke(p: number, reason: RevokeReason): Promise<void> {
    const held = this.#held.get(p);
    if (held === undefined) return Promise.resolve();
    this.#held.delete(p);
    held.abort.abort();
    return this.#call(() => this.#o.onRevoked(p, held.epoch, reason));
  }

  /**
   * Hands `p` over: stops serving first (and lets the listener finish, up to a lease), then writes the
   * key back as free with the same epoch, by compare-and-set, so the next owner need not wait.
   */
  async #release(p: number, reason: 'released' | 'leaving' | 'failed'): Promise<void> {
    const held = this.#held.get(p);
    if (held === undefined || this.#releasing.has(p)) return;
    this.#releasing.add(p);
    try {
      await withBound(this.#revoke(p, reason), this.leaseMs);
      await held.renewal;
      const value = encodeLease({ owner: null, epoch: held.epoch, expiresAfterMs: 0 });
      const revision = await this.#track(this.#bucket.update(leaseKey(p), value, held.revision, this.#o.requestTimeoutMs));
      this.#observeLease(p, revision, { owner: null, epoch: held.epoch, expiresAfterMs: 0 }, performance.now());
    } catch (err) {
      // Not released: the next owner waits for the lease to lapse instead (or it was already taken).
      if (!isRevisionConflict(err)) this.#report(err, `releasing partition ${p} failed`);
    } finally {
      this.#releasing.delete(p);
    }
  }

  /**
   * Reads a lease key after a lost compare-and-set: answers the entry, null when the key does not
   * exist, undefined when the read failed.
   */
  async #reread(p: number, afterConflict = false): Promise<BucketEntry | null | undefined> {
    try {
      const entry = await this.#track(this.#bucket.get(leaseKey(p), this.#o.requestTimeoutMs));
      if (entry !== null) {
        const record = entry.value === null ? null : decodeLease(entry.value, entry.revision, this.leaseMs);
        if (afterConflict) this.#seen.set(p, seenAfterConflict(this.#seen.get(p), { revision: entry.revision, record }, performance.now()));
        else this.#observeLease(p, entry.revision, record, performance.now());
      }
      return entry;
    } catch (err) {
      this.#report(err, `reading partition ${p}'s lease failed`);
      return undefined;
    }
  }

  #observeLease(p: number, revision: number, record: SeenLease['record'], now: number): void {
    const seen = this.#seen.get(p);
    // Revisions only grow: an older one (a restarted watcher replaying, a slow read) is no news.
    if (seen !== undefined && revision <= seen.revision) return;
    this.#seen.set(p, { revision, firstSeenAt: now, record });
  }

  // --- plumbing -----------------------------------------------------------------------------------

  #track<T>(promise: Promise<T>): Promise<T> {
    this.#inFlight.add(promise);
    void promise.then(
      () => this.#inFlight.delete(promise),
      () => this.#inFlight.delete(promise),
    );
    return promise;
  }

  /** Calls user code: a throw or a rejection goes to `onError`, never into the group's own steps. */
  #call(fn: () => void | Promise<void>): Promise<void> {
    try {
      return Promise.resolve(fn()).catch((err: unknown) => this.#report(err, 'a group callback failed'));
    } catch (err) {
      this.#report(err, 'a group callback failed');
      return Promise.resolve();
    }
  }

  #report(err: unknown, what: string): void {
    const e = RuntimeError.is(err) && isErrorCode(err.code) ? err : asUnavailable(err, what);
    try {
      this.#o.onError(e.message.startsWith(what) ? e : new RuntimeError(e.code, `${what}: ${e.message}`, e.details, e.retriable));
    } catch {
      // A logger that throws must not stop the group.
    }
  }
}

function asUnavailable(err: unknown, what: string): RuntimeError {
  return new RuntimeError(ErrorCodes.Unavailable, `${what}: ${err instanceof Error ? err.message : String(err)}`, { retryAfterMs: 1000 }, true);
}

/** Waits for `promise`, but at most `ms`. */
function withBound(promise: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([promise, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]).finally(() => clearTimeout(timer));
}
