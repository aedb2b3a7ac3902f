/**
 * The data subjects' keys (crypto-shredding, runtime/subject-cipher.ts) in their own LMDB environment:
 * `keys.mdb` in the data dir, beside `log.mdb`. Its own file so that forgetting a subject touches
 * nothing of the log (append-only, checksummed, never compacted under a live server), and so that the
 * key store can be backed up, checked and scrubbed on its own. Every thread opens it by path and
 * lmdb-js shares one native environment between them, as it does for the log.
 *
 * Records: subject -> `{ k: 32 random bytes }` while the subject has a key; `{ f: forgottenAt, c:
 * commandId, b: by, a: audited, s: scrubbed }` (a tombstone) once it was forgotten. The tombstone stays for good: a
 * forgotten subject never gets a key again (a value sealed after the forget with a new key would
 * make the old values look damaged rather than forgotten), and a sealed value whose subject has
 * neither a key nor a tombstone is damage (a lost key file), never silently redacted.
 *
 * Why pending keys and one synced write per batch (`persist`, with `overlappingSync: false` and
 * `transactionSync`): a key must be on disk before any event sealed with it can be (an event whose key
 * died in a crash would be unreadable for ever), and a separate environment cannot share the log's
 * transaction. Made one by one, each new subject (each account opened) would cost its own fsync inside
 * the worker's drain; made pending and persisted by the writer right before it commits a batch, a
 * batch opening a thousand accounts costs one. A pending key is seen by the thread that made it only:
 * no other thread can meet a value sealed with it before the batch that holds it commits.
 *
 * Why a scrub after a forget: LMDB never writes over a page in place (copy-on-write), so the page that
 * held the key keeps its bytes, now free, until a later transaction reuses it. `forget` rewrites the
 * store a few times (each transaction takes its pages from the free list first) and reads the file
 * back until the key's bytes are gone, and says whether they are (`scrubbed`). A reader of another
 * thread that still holds an old read snapshot pins the old page for a moment: hence the rounds.
 *
 * Gotchas:
 * - Never open with `noSync`, `mapAsync` or `useWritemap` (a key must be durable before its values).
 * - The file holds raw keys: whoever can read the data dir can read the personal data of every subject
 *   not forgotten, exactly as with the log itself before encryption. It protects forgetting, not access.
 */
import { existsSync, readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { open, type RootDatabase } from 'lmdb';
import { ErrorCodes, RuntimeError, systemClock } from '../../kernel/index.js';
import type { ForgetOutcome, SubjectKey, SubjectKeys } from '../port.js';

/** The key store's file in a data dir. */
export const KEYS_FILE = 'keys.mdb';

/** Bytes of a subject key (AES-256). */
export const SUBJECT_KEY_BYTES = 32;

/** Rewrite rounds a forget tries before it reports `scrubbed: false`. */
const SCRUB_ROUNDS = 40;

/** The scrub's filler record: outside ID_PATTERN, so no subject's id. */
const SCRUB_FILLER = '\u0000scrub';

type KeyRecord = { k: Uint8Array } | { f: number; c: string; b: string | null; a: boolean; s?: boolean };

export class LmdbSubjectKeys implements SubjectKeys {
  readonly path: string;
  readonly #root: RootDatabase<KeyRecord, string> | null;
  /** Keys this thread made and has not persisted yet (see the header). */
  readonly #pending = new Map<string, Uint8Array>();

  /** Opens (creates, unless `readOnly`) the key store of the data dir `dataDir`. */
  constructor(dataDir: string, readOnly = false) {
    this.path = join(dataDir, KEYS_FILE);
    // A read-only tool on a data dir whose subjects never had keys: nothing to open, every key absent.
    this.#root =
      readOnly && !existsSync(this.path)
        ? null
        : open<KeyRecord, string>({ path: this.path, noSync: false, useWritemap: false, overlappingSync: false, readOnly, encoding: 'msgpack', keyEncoding: 'ordered-binary' });
  }

  key(subject: string, create = false): SubjectKey | undefined {
    const pending = this.#pending.get(subject);
    if (pending !== undefined) return pending;
    const found = this.#read(subject);
    if (found !== undefined || !create) return found;
    this.#writable();
    const k = new Uint8Array(randomBytes(SUBJECT_KEY_BYTES));
    this.#pending.set(subject, k);
    return k;
  }

  persist(): void {
    if (this.#pending.size === 0) return;
    const root = this.#writable();
    const pending = [...this.#pending];
    this.#pending.clear();
    root.transactionSync(() => {
      for (const [subject, k] of pending) {
        const now = root.get(subject);
        // Forgotten meanwhile: the values sealed with this key are as good as forgotten too.
        if (isTombstone(now)) continue;
        if (now === undefined) root.putSync(subject, { k });
        // One writer per stream (its partition's owner) makes its subject's key: another key is a bug
        // that would make either key's values unreadable, so the batch fails rather than commit.
        else if (!Buffer.from(now.k).equals(Buffer.from(k))) {
          throw new RuntimeError(ErrorCodes.Internal, `two keys were made for data subject ${JSON.stringify(subject)}`, { subject });
        }
      }
    });
  }

  async forget(subject: string, { commandId, by }: { commandId: string; by: string | null }): Promise<ForgetOutcome> {
    const root = this.#writable();
    // A key still pending in this thread was never on disk: dropping it is all its forgetting needs.
    this.#pending.get(subject)?.fill(0);
    this.#pending.delete(subject);
    const before = root.transactionSync(() => {
      const record = root.get(subject);
      if (isTombstone(record)) return { tomb: record, key: undefined };
      root.putSync(subject, { f: systemClock.now(), c: commandId, b: by, a: false });
      return { tomb: undefined, key: record === undefined ? undefined : new Uint8Array(record.k) };
    });
    if (before.tomb !== undefined) return { deleted: false, commandId: before.tomb.c, by: before.tomb.b, audited: before.tomb.a, scrubbed: before.tomb.s === true };
    const scrubbed = await this.#scrub(before.key);
    before.key?.fill(0);
    root.transactionSync(() => {
      const record = root.get(subject);
      if (isTombstone(record)) root.putSync(subject, { ...record, s: scrubbed });
    });
    return { deleted: true, commandId, by, audited: false, scrubbed };
  }

  markAudited(subject: string): void {
    const root = this.#writable();
    root.transactionSync(() => {
      const record = root.get(subject);
      if (isTombstone(record) && !record.a) root.putSync(subject, { ...record, a: true });
    });
  }

  unaudited(): { subject: string; commandId: string; by: string | null }[] {
    if (this.#root === null) return [];
    const out: { subject: string; commandId: string; by: string | null }[] = [];
    for (const { key, value } of this.#root.getRange({ snapshot: false })) if (isTombstone(value) && !value.a) out.push({ subject: key, commandId: value.c, by: value.b });
    return out;
  }

  refreshReads(): void {
    this.#root?.resetReadTxn();
  }

  close(): Promise<void> {
    return this.#root?.close() ?? Promise.resolve();
  }

  #read(subject: string): SubjectKey | undefined {
    return this.#root === null ? undefined : keyOf(this.#root.get(subject));
  }

  #writable(): RootDatabase<KeyRecord, string> {
    if (this.#root === null) throw new RuntimeError(ErrorCodes.InvalidOptions, `the key store ${this.path} does not exist and this log was opened read-only`, { path: this.path });
    return this.#root;
  }

  /**
   * Rewrites the store until `key`'s bytes are no longer in the file (see the header); true once they
   * are not (always true for no key). Each round is one synced transaction that frees and takes pages.
   */
  async #scrub(key: Uint8Array | undefined): Promise<boolean> {
    if (key === undefined) return true;
    const root = this.#writable();
    const needle = Buffer.from(key);
    for (let round = 0; round < SCRUB_ROUNDS; round++) {
      if (!readFileSync(this.path).includes(needle)) return true;
      // A filler as large as a page makes LMDB take (and write) fresh pages for it and for the tree above.
      root.transactionSync(() => root.putSync(SCRUB_FILLER, { k: randomBytes(2048) }));
      root.transactionSync(() => root.removeSync(SCRUB_FILLER));
      // Other threads' read snapshots pin the freed pages until they renew (every event-loop tick).
      if (round % 4 === 3) await sleep(5);
    }
    return !readFileSync(this.path).includes(needle);
  }
}

/**
 * Copies the key store of `dataDir` into the file `dest` (LMDB's own copy, compacted: freed pages, such
 * as those that held a forgotten key, are not copied). False when the data dir has no key store.
 * Safe beside a live runtime: one read transaction, writers go on.
 */
export async function backupSubjectKeys(dataDir: string, dest: string): Promise<boolean> {
  const file = join(dataDir, KEYS_FILE);
  if (!existsSync(file)) return false;
  const root = open({ path: file, readOnly: true, noSync: false, useWritemap: false, overlappingSync: false, encoding: 'msgpack', keyEncoding: 'ordered-binary' });
  try {
    await root.backup(dest, true);
  } finally {
    await root.close();
  }
  return true;
}

function keyOf(record: KeyRecord | undefined): SubjectKey | undefined {
  if (record === undefined) return undefined;
  return isTombstone(record) ? 'forgotten' : new Uint8Array(record.k);
}

// Also meets lmdb-js's own records in a range (its msgpack structures): anything else is no tombstone.
function isTombstone(value: unknown): value is Extract<KeyRecord, { f: number }> {
  return typeof value === 'object' && value !== null && 'f' in value;
}
