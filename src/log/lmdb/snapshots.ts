/**
 * Snapshots: the `snapshots` database (see environment.ts), [aggregateType, id, version] ->
 * [snapshotVersion, state, ts]. Several per stream, so hydration and the time machine start from the
 * newest one at or below a version. Derived data: written in a batch like events, removed by retention,
 * never needed for correctness (a missing one only means a longer fold).
 */
import { decodeRecord, encodeRecord } from '../record-codec.js';
import type { StreamRef } from '../stored-event.js';
import type { LmdbEnvironment, LogDb } from './environment.js';
import type { StagedWrite } from './write-chain.js';
import type { StoredSnapshot } from '../port.js';

export class SnapshotStore {
  readonly #env: LmdbEnvironment;
  readonly #snapshots: LogDb;

  constructor(env: LmdbEnvironment) {
    this.#env = env;
    this.#snapshots = env.snapshots;
  }

  /** The newest persisted snapshot at or below `maxVersion`. */
  snapshotAtOrBelow<S>(aggregateType: string, id: string, maxVersion = Number.MAX_SAFE_INTEGER): StoredSnapshot<S> | undefined {
    try {
      return this.#snapshotAtOrBelow(aggregateType, id, maxVersion);
    } catch (err) {
      throw this.#env.damaged(err, `stream ${aggregateType}/${id}`);
    }
  }

  #snapshotAtOrBelow<S>(aggregateType: string, id: string, maxVersion = Number.MAX_SAFE_INTEGER): StoredSnapshot<S> | undefined {
    for (const { key, value } of this.#snapshots.getRange({ start: [aggregateType, id, maxVersion], end: [aggregateType, id, 0], reverse: true, limit: 1 })) {
      const [snapshotVersion, state, ts] = decodeRecord<[number, S, number]>(value, 'snapshots', key as StreamRef);
      return { version: (key as StreamRef)[2], snapshotVersion, state, ts };
    }
    return undefined;
  }

  /** Versions of a stream's persisted snapshots, newest first. */
  snapshotVersions(aggregateType: string, id: string, limit = Number.MAX_SAFE_INTEGER): number[] {
    const out: number[] = [];
    for (const key of this.#snapshots.getKeys({ start: [aggregateType, id, Number.MAX_SAFE_INTEGER], end: [aggregateType, id, 0], reverse: true, limit })) {
      out.push((key as StreamRef)[2]);
    }
    return out;
  }

  stageSnapshot(aggregateType: string, id: string, snap: StoredSnapshot): StagedWrite {
    const key: StreamRef = [aggregateType, id, snap.version];
    return { puts: [[this.#snapshots, key, encodeRecord([snap.snapshotVersion, snap.state, snap.ts], 'snapshots', key)]] };
  }

  /** A record already framed for this address (salvage), checked before it is staged. */
  stageRaw(aggregateType: string, id: string, version: number, record: Buffer): StagedWrite {
    const key: StreamRef = [aggregateType, id, version];
    decodeRecord(record, 'snapshots', key);
    return { puts: [[this.#snapshots, key, record]] };
  }

  /** Removes one persisted snapshot (retention; snapshots are derived data, never events). */
  stageSnapshotRemoval(aggregateType: string, id: string, version: number): StagedWrite {
    return { puts: [[this.#snapshots, [aggregateType, id, version], null]] };
  }
}
