/**
 * The rules that keep one owner per partition, as pure functions of local monotonic times
 * (`performance.now()` of the process that applies them): when a holder must stop, when a taker may
 * take, and with which epoch. No rule compares clocks of two machines.
 *
 * Why the pair is safe (docs/cluster-ownership.md has the long form):
 * - the holder sends a write (take or renewal) at `sentAt` on its clock; if it succeeds, the new
 *   revision was stored at some instant `w >= sentAt`. The holder serves only while
 *   `now - sentAt < leaseMs - marginMs` (`holderMayServe`): measured from the *send*, not the ack,
 *   because an ack can arrive long after the write (a process paused between the two).
 * - a taker first sees that revision at `firstSeenAt >= w` (it cannot see it before it exists) and
 *   takes only once `now - firstSeenAt > expiresAfterMs + marginMs` (`leaseLapsed`), by a
 *   compare-and-set on exactly that revision: if the holder renewed meanwhile, the revision moved, the
 *   write fails, and the taker's wait restarts from the new revision.
 * - so a taker's write lands after `w + leaseMs + marginMs`, and the holder stopped at
 *   `sentAt + leaseMs - marginMs <= w + leaseMs - marginMs`: `2 * marginMs` apart, which absorbs the
 *   two clocks' rate difference (not their offset, which does not matter) and timer lateness.
 *
 * Gotchas:
 * - The holder's rule must be checked on every path that asks "do I own this?" (`epochOf`), not only
 *   by a timer: after SIGSTOP/SIGCONT, I/O callbacks can run before the first timer does.
 * - `expiresAfterMs` comes from the lease value, so members with different `leaseMs` stay safe.
 * - Epochs only grow per partition, also across a released or deleted key: the log's fencing
 *   compares them. A release keeps the epoch in the key (`owner: null`) rather than deleting it.
 */
import type { LeaseRecord } from './records.js';

export interface LeaseTiming {
  /** How long a successful write keeps a lease valid for its holder (plus the margin for a taker). */
  leaseMs: number;
  /** Taken off the holder's validity and added to a taker's wait (see the header). */
  marginMs: number;
}

/** May the holder still serve at `now`, given that its last successful write was *sent* at `sentAt`? */
export function holderMayServe(sentAt: number, now: number, timing: LeaseTiming): boolean {
  return now - sentAt < timing.leaseMs - timing.marginMs;
}

/**
 * Has a lease whose revision this process first saw at `firstSeenAt` lapsed? `expiresAfterMs` is the
 * holder's lease time from the lease value; `marginMs` is the taker's own.
 */
export function leaseLapsed(firstSeenAt: number, now: number, expiresAfterMs: number, marginMs: number): boolean {
  return now - firstSeenAt > expiresAfterMs + marginMs;
}

/** A lease key as this node last saw it. */
export interface SeenLease {
  revision: number;
  /** When this node first saw `revision` (its monotonic clock). */
  firstSeenAt: number;
  /** null: the key was deleted or purged (by an operator: members release by writing `owner: null`). */
  record: LeaseRecord | null;
}

/** This node's own last successful write to a lease key, kept after it stopped serving (see `planTake`). */
export interface OwnWrite {
  revision: number;
  epoch: number;
}

/** How to take a partition now: create the key, or overwrite `revision` by compare-and-set, with `epoch`. */
export type TakePlan = { kind: 'create'; epoch: 1 } | { kind: 'update'; revision: number; epoch: number; why: 'free' | 'lapsed' | 'own' };

/**
 * Whether (and how) this node may take a partition assigned to it, at `now`:
 * - a key never seen: create it (epoch 1; the create fails if it exists after all);
 * - this node's own last write is still the key's latest (`own`): nobody else wrote since, so nobody
 *   else can be serving: take it back at once (after a pause made it stop, or a failed catch-up);
 * - released (`owner: null`) or deleted: at once (`free`);
 * - held by anyone (this node id too: a previous process of the same node may still run): only once
 *   its revision has stood still for longer than its `expiresAfterMs` plus `marginMs` (`lapsed`).
 * The compare-and-set on the seen revision makes every plan safe to try: if the key moved, it fails.
 * The epoch is the previous one + 1; after a delete (no value) it is the delete's revision + 1, above
 * every epoch the key had (each take writes the key, so the key saw at most `revision` epochs).
 */
export function planTake(seen: SeenLease | undefined, own: OwnWrite | undefined, now: number, marginMs: number): TakePlan | undefined {
  if (own !== undefined && (seen === undefined || seen.revision <= own.revision)) return { kind: 'update', revision: own.revision, epoch: own.epoch + 1, why: 'own' };
  if (seen === undefined) return { kind: 'create', epoch: 1 };
  if (seen.record === null) return { kind: 'update', revision: seen.revision, epoch: seen.revision + 1, why: 'free' };
  if (seen.record.owner === null) return { kind: 'update', revision: seen.revision, epoch: seen.record.epoch + 1, why: 'free' };
  if (leaseLapsed(seen.firstSeenAt, now, seen.record.expiresAfterMs, marginMs)) return { kind: 'update', revision: seen.revision, epoch: seen.record.epoch + 1, why: 'lapsed' };
  return undefined;
}

/**
 * What to keep as the key's last seen state after a compare-and-set on it failed and the key was read
 * again (`read`, its revision as the store answers it now). Normally revisions only grow, so an older
 * one (a watcher replaying) is no news. After a refused write it is news: the refusal proves that the
 * revision this node believed in is not the key's, and the read is the best account of what is. The
 * case that needs it: an acknowledged write to the key that the store later lost (a JetStream leader
 * acked it and died before its followers had it, seen with nats-server 2.9.10 after a server's kill -9
 * and restart). The node then holds a revision above the key's; trusting only higher revisions, it
 * would plan every take on that lost revision, have each refused, read the real one and ignore it, for
 * ever, leaving a partition assigned to it unserved. Safe to trust: every plan is a compare-and-set, so
 * a stale read only costs one more refusal; the time it is first seen restarts, so a lapse is measured
 * from now.
 */
export function seenAfterConflict(seen: SeenLease | undefined, read: { revision: number; record: LeaseRecord | null }, now: number): SeenLease {
  if (seen !== undefined && seen.revision === read.revision) return seen;
  return { revision: read.revision, firstSeenAt: now, record: read.record };
}
