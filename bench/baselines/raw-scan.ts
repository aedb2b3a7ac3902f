/**
 * Baseline `raw-scan`: lmdb-js range reads of the runtime's own log files plus a plain msgpackr decode
 * of each value, with nothing else: no checksum, no envelope objects, no fold. Also the raw versions of
 * a snapshot load and of a time-machine read (newest snapshot at or below a version, then the events
 * after it), so cold loads and the time machine are reported next to what LMDB + msgpackr alone cost.
 *
 * Opened on the same path as the runtime's `LmdbLog`: lmdb-js shares one environment per path in a
 * process, which is exactly how the runtime's own threads share it.
 */
import { join } from 'node:path';
import { open, type Database, type RootDatabase } from 'lmdb';
import { Packr } from 'msgpackr';

type Key = Array<string | number>;

export class RawLog {
  readonly #root: RootDatabase;
  readonly #events: Database<Buffer, Key>;
  readonly #snapshots: Database<Buffer, Key>;
  readonly #pages: Database<Buffer, Key>;
  // The same settings as the runtime's record codec: plain msgpack, maps as objects.
  readonly #packr = new Packr({ useRecords: false, moreTypes: false, mapsAsObjects: true });

  private constructor(dataDir: string) {
    this.#root = open({ path: join(dataDir, 'log.mdb'), maxDbs: 16, noSync: false, useWritemap: false });
    const binary = { encoding: 'binary' as const, keyEncoding: 'ordered-binary' as const };
    this.#events = this.#root.openDB<Buffer, Key>('events', binary);
    this.#snapshots = this.#root.openDB<Buffer, Key>('snapshots', binary);
    this.#pages = this.#root.openDB<Buffer, Key>('pages', binary);
  }

  static open(dataDir: string): RawLog {
    return new RawLog(dataDir);
  }

  /** Decodes every event of the stream with `from <= seq <= to`; returns how many (and a checksum of ts, so nothing is optimised away). */
  scan(aggregateType: string, id: string, from = 1, to = Number.MAX_SAFE_INTEGER): { events: number; sum: number } {
    let events = 0;
    let sum = 0;
    for (const { value } of this.#events.getRange({ start: [aggregateType, id, from], end: [aggregateType, id, to + 1], snapshot: false })) {
      const rec = this.#packr.unpack(value.subarray(4)) as [string, unknown, number];
      sum += rec[2];
      events++;
    }
    return { events, sum };
  }

  /** The same, over the stream's pages (EVENT_PAGE events per value): what hydration reads for whole pages. */
  scanPages(aggregateType: string, id: string): { events: number; sum: number } {
    let events = 0;
    let sum = 0;
    for (const { value } of this.#pages.getRange({ start: [aggregateType, id, 1], end: [aggregateType, id, Number.MAX_SAFE_INTEGER], snapshot: false })) {
      for (const rec of this.#packr.unpack(value.subarray(4)) as Array<[string, unknown, number]>) {
        sum += rec[2];
        events++;
      }
    }
    return { events, sum };
  }

  /** Newest snapshot at or below `maxVersion`, decoded, then the events after it up to `maxVersion`. */
  load(aggregateType: string, id: string, maxVersion = Number.MAX_SAFE_INTEGER): { version: number; state: unknown; events: number } {
    let version = 0;
    let state: unknown = null;
    for (const { key, value } of this.#snapshots.getRange({ start: [aggregateType, id, maxVersion], end: [aggregateType, id, 0], reverse: true, limit: 1 })) {
      version = key[2] as number;
      state = (this.#packr.unpack(value.subarray(4)) as [number, unknown, number])[1];
    }
    const tail = this.scan(aggregateType, id, version + 1, maxVersion);
    return { version: version + tail.events, state, events: tail.events };
  }

  async close(): Promise<void> {
    await this.#root.close();
  }
}
