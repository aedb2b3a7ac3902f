/**
 * This node's presence in the group bucket: its heartbeat, the one watcher over the bucket, and the
 * member table fed by it (membership.ts). Lease entries seen by the watcher are handed to the group.
 *
 * The watcher is checked against this node's own heartbeats: an acknowledged heartbeat that has not
 * come back through the watcher within a heartbeat period means the watcher stalled (its consumer died
 * with a nats-server; the client would notice only after two 30 s idle heartbeats), so it is restarted.
 * Until a heartbeat has come back (`echoed`), the member table has not seen the others either.
 *
 * Gotchas:
 * - Entries arrive on the connection's callbacks, interleaved with everything else: the group's
 *   `fence` runs first on each one (see group.ts).
 */
import type { BucketEntry, BucketWatch, GroupBucket } from './group-bucket.js';
import { MemberTable } from './membership.js';
import type { Member, ResolvedGroupOptions } from './options.js';
import { decodeMember, encodeMember, memberKey, nodeIdOfKey, partitionOfKey } from './records.js';

/** Silent members' keys are deleted after this many member timeouts (so a new member does not wait for them). */
const FORGET_AFTER_TIMEOUTS = 5;

/** What the presence needs from the group. */
export interface PresenceHooks {
  /** Stops serving expired leases; answers the time it checked at. */
  fence(): number;
  /** A lease key's entry from the watcher, seen at `now`. */
  onLeaseEntry(partition: number, entry: BucketEntry, now: number): void;
  /** Registers a request, so closing can wait for it. */
  track<T>(promise: Promise<T>): Promise<T>;
  report(err: unknown, what: string): void;
}

export class Presence {
  readonly #bucket: GroupBucket;
  readonly #o: ResolvedGroupOptions;
  readonly #hooks: PresenceHooks;
  readonly #members: MemberTable;
  #watch: BucketWatch | undefined;
  #watchStarting = false;
  #beat: Promise<void> | undefined;
  #lastBeatAt = -Infinity;
  /** The revision of this node's last acknowledged heartbeat, until the watcher delivers it. */
  #beatAwaiting: { revision: number; ackAt: number } | undefined;
  /** The newest revision of this node's member key the watcher delivered, and when. */
  #selfDelivered = { revision: 0, at: 0 };
  readonly #forgetting = new Set<number>();
  #stopped = false;

  constructor(bucket: GroupBucket, o: ResolvedGroupOptions, hooks: PresenceHooks) {
    this.#bucket = bucket;
    this.#o = o;
    this.#hooks = hooks;
    this.#members = new MemberTable({ nodeId: o.nodeId, meta: o.meta }, o.partitions, o.memberTimeoutMs);
  }

  /** Starts the watcher and writes the first heartbeat (failures are reported and retried by `tick`). */
  async start(): Promise<void> {
    await this.#startWatch();
    this.#heartbeat();
    await this.#beat;
  }

  /** True once the watcher delivered one of this node's own heartbeats. */
  get echoed(): boolean {
    return this.#members.echoed;
  }

  /** The live members, sorted by node id (this node always among them). */
  live(): Member[] {
    return this.#members.live();
  }

  /** Beats when due, restarts a stalled watcher, and deletes long-silent members' keys. */
  tick(now: number): void {
    if (this.#stopped) return;
    if (now - this.#lastBeatAt >= this.#o.heartbeatMs) this.#heartbeat();
    if (this.#watch !== undefined && this.#beatAwaiting !== undefined && now - this.#beatAwaiting.ackAt > this.#o.heartbeatMs) {
      this.#watch.stop();
      this.#watch = undefined;
      this.#beatAwaiting = undefined;
    }
    if (this.#watch === undefined) void this.#startWatch();
    for (const gone of this.#members.longGone(FORGET_AFTER_TIMEOUTS)) this.#forget(gone.nodeId, gone.revision);
  }

  /** Stops beating and deletes this node's member key (others drop it at once). */
  async leave(): Promise<void> {
    this.#stopped = true;
    await this.#beat;
    await this.#hooks.track(this.#bucket.delete(memberKey(this.#o.nodeId), undefined, this.#o.requestTimeoutMs)).catch((err: unknown) => this.#hooks.report(err, 'cannot remove the member key'));
  }

  /** Stops the watcher and the heartbeat. */
  stop(): void {
    this.#stopped = true;
    this.#watch?.stop();
    this.#watch = undefined;
  }

  #heartbeat(): void {
    if (this.#beat !== undefined || this.#stopped) return;
    this.#lastBeatAt = performance.now();
    const value = encodeMember({ nodeId: this.#o.nodeId, partitions: this.#o.partitions, meta: this.#o.meta });
    this.#beat = this.#hooks
      .track(this.#bucket.put(memberKey(this.#o.nodeId), value, this.#o.requestTimeoutMs))
      .then(
        (revision) => {
          if (this.#selfDelivered.revision >= revision) this.#members.echo(this.#selfDelivered.at);
          else this.#beatAwaiting = { revision, ackAt: performance.now() };
        },
        (err: unknown) => this.#hooks.report(err, 'the heartbeat failed'),
      )
      .finally(() => {
        this.#beat = undefined;
      });
  }

  #onEntry(entry: BucketEntry): void {
    const now = this.#hooks.fence();
    const p = partitionOfKey(entry.key, this.#o.partitions);
    if (p !== undefined) return this.#hooks.onLeaseEntry(p, entry, now);
    const nodeId = nodeIdOfKey(entry.key);
    if (nodeId === undefined) return;
    if (nodeId === this.#o.nodeId) {
      if (entry.revision > this.#selfDelivered.revision) this.#selfDelivered = { revision: entry.revision, at: now };
      if (this.#beatAwaiting !== undefined && entry.revision >= this.#beatAwaiting.revision) {
        this.#members.echo(now);
        this.#beatAwaiting = undefined;
      }
      return;
    }
    const record = entry.value === null ? null : decodeMember(entry.value);
    if (record !== undefined) this.#members.observe(nodeId, entry.revision, record, now);
  }

  async #startWatch(): Promise<void> {
    if (this.#watchStarting || this.#watch !== undefined || this.#stopped) return;
    this.#watchStarting = true;
    try {
      const watch = await this.#bucket.watch((entry) => this.#onEntry(entry));
      // stop() may have run while the watcher was starting.
      if (this.#isStopped()) return watch.stop();
      this.#watch = watch;
      void watch.ended.then(() => {
        if (this.#watch === watch) this.#watch = undefined;
      });
    } catch (err) {
      this.#hooks.report(err, 'cannot watch the group bucket');
    } finally {
      this.#watchStarting = false;
    }
  }

  /** Deletes a long-silent member's key, by its revision (a member that beat meanwhile stays). */
  #forget(nodeId: string, revision: number): void {
    if (this.#forgetting.has(revision)) return;
    if (this.#forgetting.size > 1000) this.#forgetting.clear();
    this.#forgetting.add(revision);
    void this.#hooks.track(this.#bucket.delete(memberKey(nodeId), revision, this.#o.requestTimeoutMs)).catch(() => {});
  }

  #isStopped(): boolean {
    return this.#stopped;
  }
}
