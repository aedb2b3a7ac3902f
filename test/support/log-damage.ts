/**
 * Ways to damage a stopped data dir's log for the maintenance tests: through a raw lmdb handle (values,
 * removed records, records rewritten with a valid checksum but wrong content), or by flipping bytes of
 * log.mdb itself where a known key's bytes are found (a damaged key, as a bit flip on disk makes it).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as lmdb from 'lmdb';
import { encodeRecord } from '../../src/log/index.js';

type Key = (string | number)[];

async function withDb<T>(dataDir: string, db: string, work: (store: lmdb.Database<Buffer, Key>) => T): Promise<T> {
  const raw = lmdb.open({ path: join(dataDir, 'log.mdb'), maxDbs: 16 });
  try {
    return work(raw.openDB(db, { encoding: 'binary', keyEncoding: 'ordered-binary' }) as unknown as lmdb.Database<Buffer, Key>);
  } finally {
    await raw.close();
  }
}

/** Flips the last byte of the value at `db` / `key` (its checksum no longer matches). */
export function flipValueByte(dataDir: string, db: string, key: Key): Promise<void> {
  return withDb(dataDir, db, (store) => {
    const value = Buffer.from(store.getBinary(key)!);
    value[value.length - 1] = value[value.length - 1]! ^ 0x01;
    store.putSync(key, value);
  });
}

export function removeRecord(dataDir: string, db: string, key: Key): Promise<void> {
  return withDb(dataDir, db, (store) => void store.removeSync(key));
}

/** Replaces the record at `db` / `key` with `value`, framed with a valid checksum for that address. */
export function rewriteRecord(dataDir: string, db: string, key: Key, value: unknown): Promise<void> {
  return withDb(dataDir, db, (store) => void store.putSync(key, encodeRecord(value, db, key)));
}

export function readRaw(dataDir: string, db: string, key: Key): Promise<Buffer | undefined> {
  return withDb(dataDir, db, (store) => store.getBinary(key) ?? undefined);
}

/**
 * XORs byte `index` of every copy of `key`'s stored bytes in log.mdb with `mask`. Returns how many
 * copies were changed. The log must be closed.
 */
export function flipKeyBytesInFile(dataDir: string, key: Key, index: number, mask: number): number {
  const file = join(dataDir, 'log.mdb');
  const bytes = readFileSync(file);
  const pattern = (lmdb as unknown as { keyValueToBuffer(k: Key): Buffer }).keyValueToBuffer(key);
  let n = 0;
  for (let i = bytes.indexOf(pattern); i >= 0; i = bytes.indexOf(pattern, i + 1)) {
    bytes[i + index] = bytes[i + index]! ^ mask;
    n++;
  }
  writeFileSync(file, bytes);
  return n;
}

/**
 * Overwrites every copy of `key`'s stored bytes in log.mdb with `into`'s (same length): a damaged key
 * that still decodes, e.g. another seq. Returns how many copies were changed. The log must be closed.
 */
export function rewriteKeyInFile(dataDir: string, key: Key, into: Key): number {
  const codec = lmdb as unknown as { keyValueToBuffer(k: Key): Buffer };
  const from = Buffer.from(codec.keyValueToBuffer(key));
  const to = Buffer.from(codec.keyValueToBuffer(into));
  if (from.length !== to.length) throw new Error('keys of different lengths');
  const file = join(dataDir, 'log.mdb');
  const bytes = readFileSync(file);
  let n = 0;
  for (let i = bytes.indexOf(from); i >= 0; i = bytes.indexOf(from, i + 1)) {
    to.copy(bytes, i);
    n++;
  }
  writeFileSync(file, bytes);
  return n;
}
