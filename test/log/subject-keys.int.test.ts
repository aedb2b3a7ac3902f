/**
 * The LMDB key store (src/log/lmdb/subject-keys.ts): a key made on first use is durable (a reopen reads
 * the same key); a forget leaves a tombstone, so the subject never gets a key again; the key's bytes
 * are gone from `keys.mdb` afterwards (LMDB keeps freed pages: the store rewrites them and checks the
 * file); the audit bookkeeping says which forgets still need their audit record; a backup copies the
 * store compacted, without the forgotten key.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { KEYS_FILE, LmdbSubjectKeys, backupSubjectKeys } from '../../src/log/index.js';
import { useTempDirs } from '../support/temp-dirs.js';

const tempDir = useTempDirs('keys');
const inFile = (file: string, bytes: Uint8Array) => readFileSync(file).includes(Buffer.from(bytes));

describe('the LMDB key store', () => {
  it('makes a key on first use, pending in this thread until persisted, and answers the same one after a reopen', async () => {
    const dir = await tempDir();
    const keys = new LmdbSubjectKeys(dir);
    expect(keys.key('alice')).toBeUndefined();
    const k = keys.key('alice', true) as Uint8Array;
    expect(k).toHaveLength(32);
    expect(keys.key('alice', true)).toEqual(k);
    expect(keys.key('alice')).toEqual(k);
    // Another handle (another thread) sees it once persisted, in one synced transaction.
    const other = new LmdbSubjectKeys(dir);
    expect(other.key('alice')).toBeUndefined();
    keys.persist();
    other.refreshReads();
    expect(other.key('alice')).toEqual(k);
    await other.close();
    await keys.close();
    const again = new LmdbSubjectKeys(dir);
    expect(again.key('alice')).toEqual(k);
    await again.close();
  });

  it("forgets for good: a tombstone, no key ever again, and the key's bytes gone from the file", async () => {
    const dir = await tempDir();
    const keys = new LmdbSubjectKeys(dir);
    const subjects = Array.from({ length: 200 }, (_, i) => `s-${i}`);
    const made = new Map(subjects.map((s) => [s, keys.key(s, true) as Uint8Array]));
    keys.persist();
    const file = join(dir, KEYS_FILE);
    const k = made.get('s-77')!;
    expect(inFile(file, k)).toBe(true);
    const outcome = await keys.forget('s-77', { commandId: 'forget-1', by: 'ops' });
    expect(outcome).toEqual({ deleted: true, commandId: 'forget-1', by: 'ops', audited: false, scrubbed: true });
    expect(inFile(file, k)).toBe(false);
    expect(keys.key('s-77')).toBe('forgotten');
    expect(keys.key('s-77', true)).toBe('forgotten');
    // the others are untouched
    expect(keys.key('s-78')).toEqual(made.get('s-78'));
    // again: nothing deleted, the first forget's id and asker
    expect(await keys.forget('s-77', { commandId: 'forget-2', by: 'someone else' })).toEqual({ deleted: false, commandId: 'forget-1', by: 'ops', audited: false, scrubbed: true });
    expect(keys.unaudited()).toEqual([{ subject: 's-77', commandId: 'forget-1', by: 'ops' }]);
    keys.markAudited('s-77');
    expect(keys.unaudited()).toEqual([]);
    await keys.close();
  });

  it('forgets a subject that never had a key: it cannot get one later', async () => {
    const dir = await tempDir();
    const keys = new LmdbSubjectKeys(dir);
    expect((await keys.forget('nobody', { commandId: 'f', by: null })).deleted).toBe(true);
    expect(keys.key('nobody', true)).toBe('forgotten');
    await keys.close();
  });

  it('backs up compacted: the forgotten key is not in the copy, the others are', async () => {
    const dir = await tempDir();
    const keys = new LmdbSubjectKeys(dir);
    const a = keys.key('a', true) as Uint8Array;
    const b = keys.key('b', true) as Uint8Array;
    keys.persist();
    await keys.forget('a', { commandId: 'f', by: null });
    const dest = join(await tempDir(), KEYS_FILE);
    expect(await backupSubjectKeys(dir, dest)).toBe(true);
    expect(inFile(dest, a)).toBe(false);
    expect(inFile(dest, b)).toBe(true);
    await keys.close();
    expect(await backupSubjectKeys(await tempDir(), join(await tempDir(), KEYS_FILE))).toBe(false);
  });

  it('opened read-only on a data dir without a key store, answers no key and creates no file', async () => {
    const dir = await tempDir();
    const keys = new LmdbSubjectKeys(dir, true);
    expect(keys.key('a')).toBeUndefined();
    expect(keys.unaudited()).toEqual([]);
    expect(() => keys.key('a', true)).toThrow(expect.objectContaining({ code: 'InvalidOptions' }));
    await keys.close();
  });
});
