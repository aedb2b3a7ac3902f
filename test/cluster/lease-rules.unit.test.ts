/**
 * The lease rules on their own: when a holder must stop, when a taker may take, with which epoch, and
 * the timing argument itself as a property: whatever the delays, a taker's write lands after the
 * holder stopped serving, when both run at the same clock rate.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { holderMayServe, leaseLapsed, planTake, seenAfterConflict, type SeenLease } from '../../src/cluster/lease-rules.js';
import { decodeLease, encodeLease } from '../../src/cluster/records.js';

const timing = { leaseMs: 3000, marginMs: 500 };
const held = (owner: string | null, epoch: number, revision: number, firstSeenAt = 0, expiresAfterMs = 3000): SeenLease => ({
  revision,
  firstSeenAt,
  record: { owner, epoch, expiresAfterMs },
});

describe('the holder', () => {
  it('serves until leaseMs - margin after its last successful write was sent, not after the ack', () => {
    expect(holderMayServe(1000, 1000 + 2499, timing)).toBe(true);
    expect(holderMayServe(1000, 1000 + 2500, timing)).toBe(false);
  });
});

describe('the taker', () => {
  it('creates a key it has never seen, with epoch 1', () => {
    expect(planTake(undefined, undefined, 0, 500)).toEqual({ kind: 'create', epoch: 1 });
  });

  it('takes a released key at once, with the next epoch', () => {
    expect(planTake(held(null, 7, 40), undefined, 0, 500)).toEqual({ kind: 'update', revision: 40, epoch: 8, why: 'free' });
  });

  it('takes a deleted key with an epoch above any the key can have had (its revision + 1)', () => {
    expect(planTake({ revision: 41, firstSeenAt: 0, record: null }, undefined, 0, 500)).toEqual({ kind: 'update', revision: 41, epoch: 42, why: 'free' });
  });

  it('waits for a held lease until its revision stood still longer than expiresAfterMs + margin', () => {
    const seen = held('b', 3, 50, 10_000);
    expect(planTake(seen, undefined, 10_000 + 3500, 500)).toBeUndefined();
    expect(planTake(seen, undefined, 10_000 + 3501, 500)).toEqual({ kind: 'update', revision: 50, epoch: 4, why: 'lapsed' });
    // The holder's own lease length counts, not the taker's.
    expect(planTake(held('b', 3, 50, 10_000, 60_000), undefined, 10_000 + 3501, 500)).toBeUndefined();
  });

  it('treats a lease in its own name like anyone else\'s (a previous process of the same node may still run)', () => {
    expect(planTake(held('me', 3, 50, 0), undefined, 100, 500)).toBeUndefined();
  });

  it('takes back at once a lease whose latest write is its own (nobody wrote since), with the next epoch', () => {
    expect(planTake(held('me', 3, 50, 0), { revision: 50, epoch: 3 }, 100, 500)).toEqual({ kind: 'update', revision: 50, epoch: 4, why: 'own' });
    expect(planTake(undefined, { revision: 50, epoch: 3 }, 100, 500)).toEqual({ kind: 'update', revision: 50, epoch: 4, why: 'own' });
  });

  it('the timing argument: a taker that waited on its own clock never writes before the holder stopped', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 300, max: 60_000 }),
        fc.nat(1000),
        fc.nat(5000), // send -> stored (the holder's write in flight)
        fc.nat(5000), // stored -> the taker first sees it (watcher lag)
        fc.nat(5000), // the taker's own tick lateness
        (leaseMs, marginSeed, inFlight, lag, late) => {
          const marginMs = marginSeed % Math.floor(leaseMs / 3 + 1);
          const sentAt = 1000;
          const storedAt = sentAt + inFlight;
          const firstSeenAt = storedAt + lag;
          // The earliest instant the taker's plan says "lapsed" (+ lateness), and the holder's last serving instant.
          let takeAt = firstSeenAt;
          while (!leaseLapsed(firstSeenAt, takeAt, leaseMs, marginMs)) takeAt += 1;
          takeAt += late;
          let lastServed = sentAt;
          while (holderMayServe(sentAt, lastServed + 1, { leaseMs, marginMs })) lastServed += 1;
          expect(takeAt).toBeGreaterThan(lastServed);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('lease values', () => {
  it('round-trip', () => {
    const lease = { owner: 'node-1', epoch: 12, expiresAfterMs: 3000 };
    expect(decodeLease(new TextEncoder().encode(encodeLease(lease)), 99, 3000)).toEqual(lease);
  });

  it('read an unparsable value as held by an unknown owner, with an epoch above any the key had', () => {
    for (const bad of ['not json', '{"owner":1}', '{"owner":"a","epoch":-1,"expiresAfterMs":1}', '{"owner":"a.b","epoch":1,"expiresAfterMs":1}']) {
      expect(decodeLease(new TextEncoder().encode(bad), 77, 3000)).toEqual({ owner: '?', epoch: 77, expiresAfterMs: 3000 });
    }
  });
});

describe('after a refused compare-and-set', () => {
  it('believes the key as read again, even at a lower revision (an acknowledged write the store lost), so the next take plans on it', () => {
    // This node saw its own release acknowledged at revision 715; the store lost it and the key is at 710.
    const seen: SeenLease = { revision: 715, firstSeenAt: 1_000, record: { owner: null, epoch: 3, expiresAfterMs: 0 } };
    expect(planTake(seen, undefined, 5_000, 500)).toEqual({ kind: 'update', revision: 715, epoch: 4, why: 'free' });
    const now = 6_000;
    const after = seenAfterConflict(seen, { revision: 710, record: { owner: null, epoch: 2, expiresAfterMs: 0 } }, now);
    expect(after).toEqual({ revision: 710, firstSeenAt: now, record: { owner: null, epoch: 2, expiresAfterMs: 0 } });
    expect(planTake(after, undefined, now, 500)).toEqual({ kind: 'update', revision: 710, epoch: 3, why: 'free' });
  });

  it('keeps what it saw when the read agrees, and a held key read again is waited for from now', () => {
    const seen: SeenLease = { revision: 9, firstSeenAt: 100, record: { owner: 'b', epoch: 2, expiresAfterMs: 2000 } };
    expect(seenAfterConflict(seen, { revision: 9, record: seen.record }, 5_000)).toBe(seen);
    const moved = seenAfterConflict(seen, { revision: 12, record: { owner: 'c', epoch: 3, expiresAfterMs: 2000 } }, 5_000);
    expect(planTake(moved, undefined, 5_000 + 2000, 500)).toBeUndefined();
    expect(planTake(moved, undefined, 5_000 + 2501, 500)).toMatchObject({ kind: 'update', revision: 12, epoch: 4, why: 'lapsed' });
  });
});
