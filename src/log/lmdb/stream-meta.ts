/**
 * Stream metadata: the `stream_meta` database (environment.ts), [aggregateType, id] -> retention
 * settings of one stream, and [aggregateType, ''] -> those of every stream of the type ('' is no valid
 * id, so the two never meet). Framed and checksummed like every record (record-codec.ts).
 *
 * Why its own database, written outside the writers' chains: a setting positions nothing (no seq, no
 * offset), so it needs neither the fence's position checks nor the chain's order; the runtime decides
 * at read time what it hides (runtime/retention.ts), and a setting only ever needs to be durable
 * before it is acknowledged. Reads look it up in the same read snapshot as the events they show.
 *
 * It also holds the scavenge's low-water marks (docs/data-lifecycle.md, "Scavenge"): [aggregateType, id,
 * START] -> the first seq a stream still stores, and [partition] (a number: no type key is one) -> the
 * first offset a partition's index still holds. A mark is written in the same transaction as the
 * removals it covers (prefix-removal.ts), so a read never meets a removed key without its mark.
 *
 * Gotchas:
 * - Data dirs made before it existed have no such database: it is created when a writable log opens;
 *   a read-only open of such a dir reads no settings (`db` undefined).
 */
import type { Key } from 'lmdb';
import { corruptRecord, decodeRecord, encodeRecord } from '../record-codec.js';
import type { LmdbEnvironment, LogDb } from './environment.js';
import type { StagedPut, StagedWrite } from './write-chain.js';
import type { RetentionSettings } from '../port.js';

const TYPE_KEY = '';
/** The third key element of a stream's low-water mark ('#' is no valid id character: ids.ts). */
const START = '#start';

export class StreamMetaStore {
  readonly #env: LmdbEnvironment;
  readonly #db: LogDb | undefined;

  constructor(env: LmdbEnvironment) {
    this.#env = env;
    this.#db = env.streamMeta;
  }

  retention(aggregateType: string, id?: string): RetentionSettings | undefined {
    const db = this.#db;
    if (db === undefined) return undefined;
    const key = [aggregateType, id ?? TYPE_KEY];
    try {
      const buf = db.getBinary(key);
      return buf ? decodeRecord<RetentionSettings>(buf, 'stream_meta', key) : undefined;
    } catch (err) {
      throw this.#env.damaged(err, `the retention settings of ${aggregateType}${id === undefined ? '' : `/${id}`}`);
    }
  }

  /** Ids of the streams of a type that have retention settings of their own, in key order. */
  *streamsWithRetention(aggregateType: string): Generator<string> {
    const db = this.#db;
    if (db === undefined) return;
    try {
      for (const key of db.getKeys({ start: [aggregateType, TYPE_KEY + '\u0000'], end: [aggregateType + '\u0000'], snapshot: false })) {
        if ((key as unknown[]).length === 2) yield (key as [string, string])[1];
      }
    } catch (err) {
      throw this.#env.damaged(err, `the retention settings of ${aggregateType}`);
    }
  }

  /** The first seq stream `id` still stores (1 unless a scavenge removed a prefix). */
  streamStart(aggregateType: string, id: string): number {
    return this.#mark([aggregateType, id, START], 1, `the start of ${aggregateType}/${id}`);
  }

  /** The first offset partition `partition`'s index still holds (0 unless a scavenge removed a prefix). */
  partitionStart(partition: number): number {
    return this.#mark([partition], 0, `the start of partition ${partition}`);
  }

  stageStreamStart(aggregateType: string, id: string, seq: number): StagedPut {
    return this.#stageMark([aggregateType, id, START], seq);
  }

  stagePartitionStart(partition: number, offset: number): StagedPut {
    return this.#stageMark([partition], offset);
  }

  #mark(key: Key[], none: number, what: string): number {
    const db = this.#db;
    if (db === undefined) return none;
    try {
      const buf = db.getBinary(key);
      if (!buf) return none;
      const n = decodeRecord<number>(buf, 'stream_meta', key as never);
      if (!Number.isSafeInteger(n) || n < none) throw corruptRecord('stream_meta', key, `${what} is not a position`);
      return n;
    } catch (err) {
      throw this.#env.damaged(err, what);
    }
  }

  #stageMark(key: Key[], value: number): StagedPut {
    return [this.#db!, key, encodeRecord(value, 'stream_meta', key as never)];
  }

  /** The put (or removal, for `null`) of one record, for a tool-style commit (lmdb-log.ts). */
  stageRetention(aggregateType: string, id: string | undefined, settings: RetentionSettings | null): StagedWrite {
    const db = this.#db!;
    const key = [aggregateType, id ?? TYPE_KEY];
    return { puts: [[db, key, settings === null ? null : encodeRecord(settings, 'stream_meta', key)]] };
  }
}
