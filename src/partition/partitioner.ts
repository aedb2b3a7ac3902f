/**
 * Which partition an aggregate lives in, and which worker owns each partition.
 *
 * Gotchas:
 * - Changing `hashId` changes every aggregate's partition: existing data dirs would route commands to
 *   workers that do not hold their streams' offsets. The hash is FNV-1a 32-bit over the id's UTF-16 code
 *   units (ids are ASCII by the id rule, so this equals FNV-1a over the UTF-8 bytes). Never change it.
 * - P is fixed when a data dir is created and stored in it (see `log/`); W (workers) may change freely
 *   between runs because ownership is recomputed at start-up.
 */

/** FNV-1a, 32 bit: stable across processes, platforms and Node versions. */
export function hashId(id: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) {
    h ^= id.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export function partitionOf(id: string, partitions: number): number {
  return hashId(id) % partitions;
}

/** Partition p is owned by worker p mod W: every partition has exactly one owner, and loads spread evenly. */
export function ownerOf(partition: number, workers: number): number {
  return partition % workers;
}

export function partitionsOwnedBy(worker: number, partitions: number, workers: number): number[] {
  const out: number[] = [];
  for (let p = worker; p < partitions; p += workers) out.push(p);
  return out;
}
