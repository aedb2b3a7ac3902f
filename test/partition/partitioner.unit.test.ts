/**
 * The partitioner: a stable FNV-1a hash of the id, mod P, and partition p owned by worker p mod W.
 * Changing the hash would move existing aggregates to other partitions, so its values are pinned here.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hashId, ownerOf, partitionOf, partitionsOwnedBy } from '../../src/partition/index.js';

const idArb = fc.stringMatching(/^[A-Za-z0-9_.:-]{1,128}$/);

describe('partitioner', () => {
  it('hashes with 32-bit FNV-1a (the published test vectors)', () => {
    expect(hashId('')).toBe(0x811c9dc5);
    expect(hashId('a')).toBe(0xe40c292c);
    expect(hashId('foobar')).toBe(0xbf9cf968);
  });

  it('keeps the partitions of existing ids where they are (golden values)', () => {
    expect(['acct-1', 'video:42', 'A_b.c:d-9', 'foobar'].map((id) => partitionOf(id, 16))).toEqual([12, 0, 14, 8]);
    expect(['acct-1', 'video:42', 'A_b.c:d-9', 'foobar'].map((id) => partitionOf(id, 7))).toEqual([5, 0, 3, 0]);
  });

  it('maps every valid id to one partition in [0, P), the same one every time', () => {
    fc.assert(
      fc.property(idArb, fc.integer({ min: 1, max: 65_536 }), (id, p) => {
        const part = partitionOf(id, p);
        expect(Number.isInteger(part) && part >= 0 && part < p).toBe(true);
        expect(partitionOf(id, p)).toBe(part);
        expect(hashId(id)).toBeLessThanOrEqual(0xffffffff);
      }),
    );
  });

  it('gives every partition exactly one owner, p mod W, and every worker its share', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 300 }), fc.integer({ min: 1, max: 300 }), (partitions, workers) => {
        const seen = new Array<number>(partitions).fill(0);
        for (let w = 0; w < workers; w++) {
          const owned = partitionsOwnedBy(w, partitions, workers);
          for (const p of owned) {
            seen[p]!++;
            expect(ownerOf(p, workers)).toBe(w);
          }
          if (w < partitions) expect(owned.length).toBeGreaterThanOrEqual(Math.floor(partitions / workers));
        }
        expect(seen.every((n) => n === 1)).toBe(true);
      }),
    );
  });

  it('spreads sequential ids over the partitions without leaving one empty or overfull', () => {
    const counts = new Array<number>(16).fill(0);
    for (let i = 0; i < 16_000; i++) counts[partitionOf(`acct-${i}`, 16)]!++;
    for (const n of counts) {
      expect(n).toBeGreaterThan(500);
      expect(n).toBeLessThan(1500);
    }
  });
});
