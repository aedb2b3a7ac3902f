/**
 * The worker's side of cluster mode (src/runtime/served-partitions.ts): which partitions the actor host
 * serves, and the `leases` hook the JetStream log asks before each append. Deadlines are on the worker's
 * own clock (converted by the main thread: thread-clock.ts), so "lapsed" needs no message from the main thread.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCodes } from '../../src/kernel/index.js';
import { ServedPartitions, leaseNow } from '../../src/runtime/served-partitions.js';

const later = (): number => leaseNow() + 60_000;

describe('ServedPartitions', () => {
  it('serves nothing it was not given, and nothing before its catch-up is done', () => {
    const s = new ServedPartitions();
    expect(s.epochOf(0)).toBeNull();
    expect(s.refusal(0)?.code).toBe(ErrorCodes.NotOwner);
    s.acquire(0, 3, later());
    expect(s.epochOf(0)).toBeNull();
    expect(s.refusal(0)?.message).toContain('catching up');
    expect(s.serve(0, 3)).toBe(true);
    expect(s.epochOf(0)).toBe(3);
    expect(s.refusal(0)).toBeUndefined();
  });

  it('stops using a lease once its deadline passed, by itself, and a renewal of the same epoch moves it on', () => {
    const s = new ServedPartitions();
    s.acquire(1, 2, leaseNow() - 1);
    s.serve(1, 2);
    expect(s.epochOf(1)).toBeNull();
    expect(s.refusal(1)?.message).toContain('lease was not renewed in time');
    s.renew(1, 1, later()); // another epoch's late renewal: no news
    expect(s.epochOf(1)).toBeNull();
    s.renew(1, 2, later());
    expect(s.epochOf(1)).toBe(2);
  });

  it('on a handover refuses new commands but keeps the lease for batches in flight, until revoked', () => {
    const s = new ServedPartitions();
    s.acquire(2, 5, later());
    s.serve(2, 5);
    s.drain(2, 5);
    expect(s.refusal(2)?.message).toContain('handed over');
    expect(s.epochOf(2)).toBe(5);
    s.revoke(2, 5);
    expect(s.epochOf(2)).toBeNull();
    expect(s.refusal(2)?.message).toContain('no lease');
  });

  it('a takeover\'s catch-up may use its lease (heldEpoch) before serving, only while valid and of its epoch; holds says whether to follow', () => {
    const s = new ServedPartitions();
    expect(s.holds(4)).toBe(false);
    s.acquire(4, 7, later());
    expect(s.holds(4)).toBe(true);
    expect(s.epochOf(4)).toBeNull();
    expect(s.heldEpoch(4, 7)).toBe(7);
    expect(s.heldEpoch(4, 6)).toBeNull();
    s.acquire(5, 1, leaseNow() - 1);
    expect(s.heldEpoch(5, 1)).toBeNull();
    s.revoke(4, 7);
    expect(s.holds(4)).toBe(false);
    expect(s.heldEpoch(4, 7)).toBeNull();
  });

  it('a revoke of an old epoch leaves a newer acquire alone, and a revoke during the catch-up wins over it', () => {
    const s = new ServedPartitions();
    s.acquire(3, 1, later());
    s.revoke(3, 1);
    expect(s.serve(3, 1)).toBe(false);
    s.acquire(3, 2, later());
    s.revoke(3, 1);
    expect(s.serve(3, 2)).toBe(true);
    expect(s.epochOf(3)).toBe(2);
  });
});
