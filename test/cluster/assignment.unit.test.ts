/**
 * The assignment: bounded-load rendezvous hashing. Every partition gets exactly one live member, the
 * spread is as even as it can be (each member floor(P/n) or ceil(P/n)), the answer depends only on
 * the set of ids, and a join moves few partitions (close to the P/(n+1) a newcomer must receive).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { assignPartitions } from '../../src/cluster/index.js';

const idsArb = fc.uniqueArray(fc.stringMatching(/^[A-Za-z0-9_-]{1,16}$/), { minLength: 1, maxLength: 9 });

function counts(owners: (string | undefined)[]): Map<string | undefined, number> {
  const out = new Map<string | undefined, number>();
  for (const o of owners) out.set(o, (out.get(o) ?? 0) + 1);
  return out;
}

describe('assignPartitions', () => {
  it('gives every partition one of the members, each member floor(P/n) or ceil(P/n) partitions', () => {
    fc.assert(
      fc.property(idsArb, fc.integer({ min: 1, max: 300 }), (ids, partitions) => {
        const owners = assignPartitions(ids, partitions);
        expect(owners).toHaveLength(partitions);
        expect(owners.every((o) => o !== undefined && ids.includes(o))).toBe(true);
        const loads = ids.map((id) => counts(owners).get(id) ?? 0);
        for (const load of loads) expect([Math.floor(partitions / ids.length), Math.ceil(partitions / ids.length)]).toContain(load);
      }),
    );
  });

  it('spreads 12 partitions 4/4/4 over three members', () => {
    expect([...counts(assignPartitions(['a', 'b', 'c'], 12)).values()]).toEqual([4, 4, 4]);
  });

  it('depends only on the set of member ids, not on their order or repetitions', () => {
    fc.assert(
      fc.property(idsArb, fc.integer({ min: 1, max: 64 }), (ids, partitions) => {
        const shuffled = [...ids].reverse().concat(ids.slice(0, 1));
        expect(assignPartitions(shuffled, partitions)).toEqual(assignPartitions(ids, partitions));
      }),
    );
  });

  it('assigns nothing when no member is live', () => {
    expect(assignPartitions([], 3)).toEqual([undefined, undefined, undefined]);
  });

  it('moves few partitions when a member joins: on average within 1.5x of the P/(n+1) the newcomer must get', () => {
    for (const [partitions, n] of [
      [12, 3],
      [64, 3],
      [256, 4],
    ] as const) {
      let moved = 0;
      const groups = 100;
      for (let g = 0; g < groups; g++) {
        const ids = Array.from({ length: n }, (_, i) => `node-${g}-${i}`);
        const before = assignPartitions(ids, partitions);
        const after = assignPartitions([...ids, `new-${g}`], partitions);
        moved += before.filter((o, p) => after[p] !== o).length;
      }
      expect(moved / groups).toBeLessThan((1.5 * partitions) / (n + 1));
    }
  });

  it('keeps the assignment of a fixed member list stable across versions (golden values)', () => {
    expect(assignPartitions(['a', 'b', 'c'], 12).join(',')).toMatchInlineSnapshot(`"a,a,a,a,b,c,b,c,c,b,c,b"`);
  });
});
