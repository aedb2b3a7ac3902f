/**
 * Which live member should own each partition: a pure function of the member ids and the partition
 * count, so every member that sees the same live set computes the same answer without talking.
 *
 * The choice: rendezvous (highest-random-weight) hashing with bounded loads. Every (member, partition)
 * pair gets a score; pairs are taken from the highest score down, and a pair is taken when its partition
 * is still free and its member still has room. Room is `floor(P / n)` for everyone, and `ceil(P / n)`
 * for the first `P mod n` members to reach the floor (in score order), so the spread is exactly even
 * (12 partitions over 3 members: 4/4/4; over 5: 3/3/2/2/2). Plain rendezvous hashing moves the fewest
 * partitions on a join (only those the newcomer scores highest on) but spreads unevenly on small
 * counts; the load bound keeps the spread even at the cost of a few extra moves (measured in
 * test/cluster/assignment.unit.test.ts; see docs/cluster-ownership.md). Round-robin over sorted ids,
 * the simplest alternative, moves most partitions whenever a member joins in the middle of the order.
 *
 * Gotchas:
 * - Changing `scoreOf` changes which member owns what: members running two versions of it disagree
 *   on the assignment. That is safe (leases decide who serves, the assignment only who tries) but
 *   partitions would bounce until every member runs the same one. Change it only with a whole-group
 *   restart.
 * - The answer must not depend on the order of `members`: it is sorted by score and tie-broken by id.
 */
import { hashId } from '../partition/index.js';

/** A well-mixed 32-bit score for a pair: FNV-1a alone mixes short, similar strings poorly. */
export function scoreOf(member: string, partition: number): number {
  let h = hashId(`${member}\u0000${partition}`);
  // murmur3's fmix32 finalizer: every input bit flips about half of the output bits.
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * The owner of each partition (index = partition) among `members` (ids; duplicates ignored), or an
 * array of `undefined` when there is no member.
 */
export function assignPartitions(members: readonly string[], partitions: number): (string | undefined)[] {
  const ids = [...new Set(members)].sort();
  const owners: (string | undefined)[] = new Array<string | undefined>(partitions).fill(undefined);
  const n = ids.length;
  if (n === 0) return owners;
  const floor = Math.floor(partitions / n);
  let extras = partitions % n; // members that may still grow to floor + 1
  const pairs: { member: number; partition: number; score: number }[] = [];
  for (let m = 0; m < n; m++) {
    for (let p = 0; p < partitions; p++) pairs.push({ member: m, partition: p, score: scoreOf(ids[m]!, p) });
  }
  // Highest score first; ties (rare) by member id, then partition, so the order is total.
  pairs.sort((a, b) => b.score - a.score || a.member - b.member || a.partition - b.partition);
  const load = new Array<number>(n).fill(0);
  let left = partitions;
  for (const { member, partition } of pairs) {
    if (left === 0) break;
    if (owners[partition] !== undefined) continue;
    const has = load[member]!;
    if (has < floor || (has === floor && extras > 0)) {
      if (has === floor) extras--;
      owners[partition] = ids[member];
      load[member] = has + 1;
      left--;
    }
  }
  return owners;
}
