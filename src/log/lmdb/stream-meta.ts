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
 * Gotchas:
 * - Data dirs made before it existed have no such database: it is created when a writable log opens;
 *   a read-only open of such a dir reads no settings (`db` undefined).
 */
import { decodeRecord, encodeRecord } from '../record-codec.js';
import type { LmdbEnvironment, LogDb } from './environment.js';
import type { StagedWrite } from './write-chain.js';
import type { RetentionSettings } from '../port.js';

const TYPE_KEY = '';

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

  /** The put (or removal, for `null`) of one record, for a tool-style commit (lmdb-log.ts). */
  stageRetention(aggregateType: string, id: string | undefined, settings: RetentionSettings | null): StagedWrite {
    const db = this.#db!;
    const key = [aggregateType, id ?? TYPE_KEY];
    return { puts: [[db, key, settings === null ? null : encodeRecord(settings, 'stream_meta', key)]] };
  }
}
