/**
 * Who may write: the owner epoch that fences every batch, and the check that an append never lands on
 * a position that already holds a record.
 *
 * Why a fence as well as the data-dir lock (dir-lock.ts): a lock lives outside the data; if it ever fails
 * (the lock file deleted, a file system whose locks do not reach the other holder), two processes could
 * append to the same partitions and ack the same positions twice. So an owner claims the log by bumping
 * the owner epoch (`claimOwnership`), and every batch of its writers applies only while the epoch is
 * still its own (`ifVersion` inside the write transaction, write-chain.ts). A deposed owner's batches are
 * refused, whole, with `Fenced`, never interleaved.
 *
 * Why appends cannot overwrite (invariant 10): the owner checks that each new event's position is free
 * before staging it (a read: only this fenced owner writes its partitions, so what it reads free stays
 * free until its batch commits, and a batch of a deposed owner is refused whole), unless its writer staged
 * the position before it itself (batch-writer.ts: then the position was counted from its own append, as
 * a partition's offsets are, not taken from a head read that damage could have made short), a command id is looked
 * up before it is used, and each partition-index run's first offset is read as free while the batch is
 * assembled. Tool commits outside any chain (salvage into a new log) also write index runs with LMDB's
 * no-overwrite flag; chained batches cannot: lmdb-js applies a no-overwrite put even inside an `ifVersion`
 * block it skips, so a fenced batch would leave its index runs behind (write-chain.ts). A position that already holds a record means
 * the log is damaged (a flipped key byte makes a stream look shorter than it is): the command fails with
 * `CorruptRecord` and nothing replaces the record that is there. Why not the no-overwrite flag on every
 * event put as well: lmdb-js makes each conditional put its own promise, which cost about a fifth of the
 * command path (bench/README.md, "Storage integrity: what it costs").
 *
 * Gotchas:
 * - Events are never overwritten (invariant 3): offsets and seqs are assigned by the single owner of a
 *   partition (the port's BatchWriter, batch-writer.ts); nothing else writes `events` or `partitions`.
 */
import type { Key } from 'lmdb';
import { ErrorCodes, RuntimeError, systemClock } from '../../kernel/index.js';
import { corruptRecord } from '../record-codec.js';
import type { LmdbEnvironment, LogDb } from './environment.js';
import type { WriteChain } from './write-chain.js';

/** The key in `writers` that names the owner; its entry version is the owner epoch. */
export const OWNER_KEY = ['owner'];

export class OwnerFence {
  readonly #env: LmdbEnvironment;
  readonly #writers: LogDb;

  constructor(env: LmdbEnvironment) {
    this.#env = env;
    this.#writers = env.writers;
  }

  /**
   * Makes this process the owner of the log: bumps the owner epoch (the entry version of ['owner']) in
   * one synchronous, durable transaction and returns it. Call once per process, after taking the data-dir
   * lock; every writer of this process then passes the epoch to `startWriteChain`. From here on, batches
   * of any earlier owner are refused inside LMDB (see the header).
   */
  claimOwnership(holder: string): number {
    const current = this.#writers.getEntry(OWNER_KEY);
    const epoch = (current?.version ?? 0) + 1;
    this.#writers.putSync(OWNER_KEY, Buffer.from(JSON.stringify({ pid: process.pid, holder, since: new Date(systemClock.now()).toISOString() })), epoch);
    return epoch;
  }

  /** The current owner epoch (0 for a log never claimed). */
  ownerEpoch(): number {
    return this.#writers.getEntry(OWNER_KEY)?.version ?? 0;
  }

  /** Why a chained batch was skipped: another process owns the log now, or an earlier batch failed. */
  notApplied(chain: { key: Key[]; epoch: number }, version: number): RuntimeError {
    this.#env.refreshReads();
    const owner = this.#writers.getEntry(OWNER_KEY);
    if (owner?.version !== chain.epoch) {
      const by = owner ? decodeOwner(owner.value) : undefined;
      return new RuntimeError(
        ErrorCodes.Fenced,
        `the data dir was taken over by another process (owner epoch ${owner?.version ?? '?'}${by ? `, ${by}` : ''}; this process had ${chain.epoch}): this process stops writing`,
        { epoch: chain.epoch, current: owner?.version ?? null },
      );
    }
    return new RuntimeError(ErrorCodes.StorageFailed, `write batch ${version} of ${String(chain.key[0])} was not applied: an earlier batch of this writer did not commit`, { outcome: 'not-applied' }, true);
  }

  /** Whether `key` already holds a record (LMDB's damage reports mapped as for every read). */
  taken(db: LogDb, key: Key[], what: string, partition: number): boolean {
    try {
      return db.doesExist(key);
    } catch (err) {
      throw this.#env.damaged(err, what, partition);
    }
  }

  /** A position this owner assigned is taken: another owner wrote there (fenced), or the log is damaged. */
  positionTaken(db: string, key: Key[], why: string, partition: number, chain: WriteChain | undefined): RuntimeError {
    if (chain) {
      this.#env.refreshReads();
      if (this.ownerEpoch() !== chain.epoch) return this.notApplied(chain, chain.version);
    }
    return corruptRecord(db, key, why, partition);
  }
}

function decodeOwner(value: unknown): string | undefined {
  try {
    const o = JSON.parse(Buffer.from(value as Uint8Array).toString('utf8')) as { pid?: number; holder?: string; since?: string };
    return `pid ${o.pid ?? '?'} (${o.holder ?? '?'}) since ${o.since ?? '?'}`;
  } catch {
    return undefined;
  }
}
