/**
 * Who is in the group, as seen by this node: every member writes its key again each heartbeat (a new
 * revision), and this table remembers, per member, when (on this node's monotonic clock) it first saw
 * the member's current revision. Wall-clock timestamps in the values are never compared.
 *
 * A member is dropped when it has been silent for `timeoutMs` **as far as the watcher can tell**: the
 * silence is measured up to the last time the watcher delivered this node's own heartbeat (`echo`),
 * not up to now. A watcher that stalls (the nats-server carrying its consumer died) then freezes the
 * live set instead of emptying it, so a stalled watcher never reshuffles the partitions.
 *
 * Gotchas:
 * - The live set only steers who *tries* to take what; leases decide who serves. Two members that
 *   briefly disagree on it cost a handover, never a double owner.
 * - This node is always live in its own table, whatever the bucket says.
 */
import type { MemberRecord } from './records.js';
import type { Member } from './options.js';

interface Seen {
  revision: number;
  firstSeenAt: number;
  /** null: the member deleted its key (left the group). */
  record: MemberRecord | null;
}

export class MemberTable {
  readonly #self: Member;
  readonly #partitions: number;
  readonly #timeoutMs: number;
  readonly #seen = new Map<string, Seen>();
  /** When the watcher last delivered this node's own latest heartbeat (undefined: not yet). */
  #echoAt: number | undefined;

  constructor(self: Member, partitions: number, timeoutMs: number) {
    this.#self = self;
    this.#partitions = partitions;
    this.#timeoutMs = timeoutMs;
  }

  /** A member key's state at `revision` (from the watcher or a read), seen at `now`. Older revisions are ignored. */
  observe(nodeId: string, revision: number, record: MemberRecord | null, now: number): void {
    const seen = this.#seen.get(nodeId);
    if (seen !== undefined && revision <= seen.revision) return;
    this.#seen.set(nodeId, { revision, firstSeenAt: now, record });
  }

  /** The watcher delivered this node's own latest heartbeat at `at`: everything written before it has been seen. */
  echo(at: number): void {
    if (this.#echoAt === undefined || at > this.#echoAt) this.#echoAt = at;
  }

  get echoed(): boolean {
    return this.#echoAt !== undefined;
  }

  /** The live members, sorted by node id (this node always among them). */
  live(): Member[] {
    const out: Member[] = [this.#self];
    for (const [nodeId, seen] of this.#seen) {
      if (nodeId === this.#self.nodeId || !this.#isLive(seen)) continue;
      out.push({ nodeId, meta: seen.record!.meta });
    }
    return out.sort((a, b) => (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0));
  }

  /**
   * Members silent for `factor` timeouts (by the same measure as `live`), with the revision to delete
   * their key by: a member that beats again meanwhile has a newer revision and is not deleted.
   */
  longGone(factor: number): { nodeId: string; revision: number }[] {
    const out: { nodeId: string; revision: number }[] = [];
    for (const [nodeId, seen] of this.#seen) {
      if (nodeId !== this.#self.nodeId && seen.record !== null && this.#silentFor(seen) > factor * this.#timeoutMs) out.push({ nodeId, revision: seen.revision });
    }
    return out;
  }

  #isLive(seen: Seen): boolean {
    // A member of another partition count is a misconfigured node: never assign it anything.
    return seen.record !== null && seen.record.partitions === this.#partitions && this.#silentFor(seen) <= this.#timeoutMs;
  }

  #silentFor(seen: Seen): number {
    return this.#echoAt === undefined ? 0 : this.#echoAt - seen.firstSeenAt;
  }
}
