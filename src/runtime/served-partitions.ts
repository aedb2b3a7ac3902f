/**
 * Cluster mode, on the actor worker's side: the partitions this host serves, each under the lease the
 * main thread's partition group holds for it (cluster-node.ts), and the `leases` hook of the JetStream
 * log (`epochOf`), which the log asks before it sends a partition's message.
 *
 * Why the worker keeps its own copy of each lease's deadline: the group runs on the main thread, and a
 * main thread stalled by a busy loop (or a GC pause) cannot tell the worker that a lease lapsed. So every
 * acquire and renewal carries the holder's own deadline (`until`), and the worker stops using the lease
 * once it has passed, by itself: it never appends on a lapsed lease, whatever the main thread is doing.
 *
 * Gotchas:
 * - `until` is on this thread's own `performance.now()` (`leaseNow`): the main thread converts its
 *   deadlines with an offset it measured, never later than they are (thread-clock.ts).
 * - A lease only moves forward within one epoch: a renewal of another epoch (a late message of a lease
 *   already revoked and taken again) changes nothing.
 */
import { ErrorCodes, RuntimeError } from '../kernel/index.js';

/** Now, in ms, on the clock lease deadlines are given in (see the Gotchas). */
export function leaseNow(): number {
  return performance.now();
}

/** How long a caller refused with `NotOwner` should wait before it retries (a handover takes about a lease). */
export const NOT_OWNER_RETRY_MS = 1000;

/**
 * `NotOwner` for `partition`: served elsewhere (`owner` when known) or changing hands. Retriable, after
 * `retryAfterMs` (the server answers 503 with Retry-After).
 */
export function notOwner(partition: number, why: string, owner?: string | null): RuntimeError {
  const where = owner ? `; its owner is node ${owner}` : '';
  return new RuntimeError(ErrorCodes.NotOwner, `partition ${partition} is not served by this node (${why})${where}: retry later${owner ? ' through its owner' : ''}`, { partition, retryAfterMs: NOT_OWNER_RETRY_MS, ...(owner ? { owner } : {}) }, true);
}

interface Lease {
  epoch: number;
  /** The holder's deadline, on the shared clock. */
  until: number;
  /**
   * `catching-up` after `acquire`; `serving`; `draining` while a handed-over partition's batches already
   * in flight finish (new commands are refused, the lease still fences what is in flight).
   */
  phase: 'catching-up' | 'serving' | 'draining';
}

export class ServedPartitions {
  readonly #leases = new Map<number, Lease>();

  /** The main thread took `partition`'s lease: it is caught up next, and served only after `serve`. */
  acquire(partition: number, epoch: number, until: number): void {
    this.#leases.set(partition, { epoch, until, phase: 'catching-up' });
  }

  /** Caught up: served from now on, unless it was revoked (or taken again with another epoch) meanwhile. */
  serve(partition: number, epoch: number): boolean {
    const lease = this.#leases.get(partition);
    if (lease?.epoch !== epoch || lease.phase !== 'catching-up') return false;
    lease.phase = 'serving';
    return true;
  }

  /** Handed over: refuse new commands, but keep the lease for the batches in flight (see `revoke`). */
  drain(partition: number, epoch: number): void {
    const lease = this.#leases.get(partition);
    if (lease?.epoch === epoch) lease.phase = 'draining';
  }

  renew(partition: number, epoch: number, until: number): void {
    const lease = this.#leases.get(partition);
    if (lease?.epoch === epoch && until > lease.until) lease.until = until;
  }

  /** Stops using the lease of `epoch` (a later acquire's, of another epoch, stays). */
  revoke(partition: number, epoch: number): void {
    if (this.#leases.get(partition)?.epoch === epoch) this.#leases.delete(partition);
  }

  /** The log's hook: the lease epoch while the partition is served and its lease valid, else null. */
  epochOf(partition: number): number | null {
    const lease = this.#leases.get(partition);
    return lease !== undefined && lease.phase !== 'catching-up' && leaseNow() < lease.until ? lease.epoch : null;
  }

  /**
   * The lease epoch `epoch` while this host holds that lease and it is valid, whatever the phase (a
   * takeover's catch-up appends its marker under it), else null.
   */
  heldEpoch(partition: number, epoch: number): number | null {
    const lease = this.#leases.get(partition);
    return lease?.epoch === epoch && leaseNow() < lease.until ? epoch : null;
  }

  /** Whether this host holds any lease on `partition` (it is then not followed: it writes it). */
  holds(partition: number): boolean {
    return this.#leases.has(partition);
  }

  /** Why a command or load of `partition` must be refused now, or undefined when it may run. */
  refusal(partition: number): RuntimeError | undefined {
    const lease = this.#leases.get(partition);
    if (lease === undefined) return notOwner(partition, 'no lease on it');
    if (lease.phase === 'catching-up') return notOwner(partition, 'it is catching up');
    if (lease.phase === 'draining') return notOwner(partition, 'it is being handed over');
    if (leaseNow() >= lease.until) return notOwner(partition, 'its lease was not renewed in time');
    return undefined;
  }
}
