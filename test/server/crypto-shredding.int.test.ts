/**
 * Crypto-shredding end to end (issue 16 item 3), through the public API on an LMDB data dir: accounts
 * opened with distinctive owner names never put those names into any file of the data dir (events,
 * pages, snapshots, view rows: grepped raw); `POST /admin/subjects/:subject/forget` deletes the
 * subject's key, after which every read shows the owner as `null` (load, history, the time machine, the
 * view, the feed's catch-up from the start, a backup taken afterwards and restored), while balances,
 * seqs and the other subject stay exactly as they were, and the audit stream records the forget.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createRuntime, type AccountState } from '../../src/index.js';
import { backupLog, restoreBackup, LmdbSubjectKeys, type RuntimeLog } from '../../src/log/index.js';
import { storedReads } from '../../src/runtime/index.js';
import { isSealed } from '../../src/runtime/subject-cipher.js';
import { FeedRecorder, heads, wsUrl } from '../support/feed-recorder.js';
import { harness, tempDir, type Harness } from './helpers.js';

const ALICE = 'Zephyrine Quillfeather-8812';
const BOB = 'Barnaby Oddwhistle-4402';

let h: Harness | undefined;
const cleanups: (() => void)[] = [];
afterEach(async () => {
  await h?.close();
  h = undefined;
  for (const c of cleanups.splice(0)) c();
});

/** Every file under `dir` (recursively) whose raw bytes contain `text` or `bytes`. */
function filesHolding(dir: string, needle: string | Uint8Array): string[] {
  const b = typeof needle === 'string' ? Buffer.from(needle, 'utf8') : Buffer.from(needle);
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...filesHolding(path, needle));
    else if (readFileSync(path).includes(b)) out.push(path);
  }
  return out;
}

async function openWithHistory(h: Harness, id: string, owner: string): Promise<void> {
  await h.runtime.execute('account', id, { type: 'Open', data: { owner } });
  for (const amount of [100, 250, 50]) await h.runtime.execute('account', id, { type: 'Deposit', data: { amount } });
  await h.runtime.execute('account', id, { type: 'Withdraw', data: { amount: 30 } });
}

const forget = (h: Harness, subject: string) => h.app.inject({ method: 'POST', url: `/admin/subjects/${subject}/forget`, headers: { 'content-type': 'application/json' }, payload: '{}' });

describe('crypto-shredding', () => {
  it('never writes a personal field in plaintext, and after a forget reads it as null everywhere while balances and the time machine stay intact', async () => {
    h = await harness({}, { partitions: 4, workers: 2, snapshotEvery: 2 });
    await h.listen();
    await openWithHistory(h, 'acc-alice', ALICE);
    await openWithHistory(h, 'acc-bob', BOB);

    // Before the forget: everything reads in plaintext, and no file holds it.
    expect((await h.runtime.load<AccountState>('account', 'acc-alice')).state).toEqual({ owner: ALICE, balance: 370, open: true });
    expect(h.runtime.log.snapshotVersions('account', 'acc-alice').length).toBeGreaterThan(0);
    expect((await h.views.get('balances', 'acc-alice', { position: heads(h.runtime) })).row).toMatchObject({ owner: ALICE, balance: 370 });
    expect(filesHolding(h.dir, ALICE)).toEqual([]);
    expect(filesHolding(h.dir, BOB)).toEqual([]);
    const probe = new LmdbSubjectKeys(h.dir);
    const aliceKey = probe.key('acc-alice') as Uint8Array;
    await probe.close();
    expect(filesHolding(h.dir, aliceKey)).toEqual([join(h.dir, 'keys.mdb')]);

    const res = await forget(h, 'acc-alice');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ subject: 'acc-alice', deleted: true, scrubbed: true, audit: { version: 1, duplicate: false } });

    // The key is gone from every file; the plaintext was never in any.
    expect(filesHolding(h.dir, aliceKey)).toEqual([]);
    expect(filesHolding(h.dir, ALICE)).toEqual([]);

    // Current state, history, the time machine: the owner is null, the rest intact.
    expect((await h.runtime.load<AccountState>('account', 'acc-alice')).state).toEqual({ owner: null, balance: 370, open: true });
    const history = await h.runtime.history('account', 'acc-alice');
    expect(history.map((e) => [e.seq, e.type, e.data])).toEqual([
      [1, 'AccountOpened', { owner: null }],
      [2, 'Deposited', { amount: 100 }],
      [3, 'Deposited', { amount: 250 }],
      [4, 'Deposited', { amount: 50 }],
      [5, 'Withdrawn', { amount: 30 }],
    ]);
    expect((await h.runtime.load<AccountState>('account', 'acc-alice', { version: 3 })).state).toEqual({ owner: null, balance: 350, open: true });
    // Commands go on: deposits carry nothing personal.
    expect((await h.runtime.execute<AccountState>('account', 'acc-alice', { type: 'Deposit', data: { amount: 1 } })).state).toEqual({ owner: null, balance: 371, open: true });

    // The other subject is untouched.
    expect((await h.runtime.load<AccountState>('account', 'acc-bob')).state).toEqual({ owner: BOB, balance: 370, open: true });

    // The view: redacted at once (its sealed field cannot open), and rewritten so by the engine.
    expect((await h.views.get('balances', 'acc-alice', { position: heads(h.runtime) })).row).toMatchObject({ owner: null, balance: 371 });
    expect((await h.views.get('balances', 'acc-bob')).row).toMatchObject({ owner: BOB, balance: 370 });
    // As stored: bob's owner sealed; alice's rewritten to null by the engine once SubjectForgotten reached it.
    const stored = (storedReads(h.runtime.log) as RuntimeLog).views;
    const generation = h.runtime.log.views.meta('balances').active;
    expect(isSealed(stored.getRow<{ owner: unknown }>('balances', generation, 'acc-bob')!.owner)).toBe(true);
    await expect.poll(() => stored.getRow<{ owner: unknown }>('balances', generation, 'acc-alice')!.owner).toBeNull();
    // The row's writer keeps the owner's ciphertext while the owner stays the same (personal-data.ts
    // `sealRow`): a later deposit must not bring the forgotten subject's ciphertext back.
    await h.runtime.execute('account', 'acc-alice', { type: 'Deposit', data: { amount: 1 } });
    expect((await h.views.get('balances', 'acc-alice', { position: heads(h.runtime) })).row).toMatchObject({ owner: null, balance: 372 });
    expect(stored.getRow<{ owner: unknown }>('balances', generation, 'acc-alice')!.owner).toBeNull();
    const rebuilt = await h.views.rebuild('balances');
    expect(rebuilt.state).toBe('swapped');
    expect((await h.views.get('balances', 'acc-alice')).row).toMatchObject({ owner: null, balance: 372 });
    expect((await h.views.get('balances', 'acc-bob')).row).toMatchObject({ owner: BOB, balance: 370 });

    // The feed's catch-up from the start.
    const client = new FeedRecorder(wsUrl(h, '?from=start'));
    const end = heads(h.runtime).join('.');
    await client.until(() => client.position === end);
    const opened = client.events.filter((e) => e.type === 'AccountOpened');
    expect(Object.fromEntries(opened.map((e) => [e.stream, e.data]))).toEqual({ 'acc-alice': { owner: null }, 'acc-bob': { owner: BOB } });
    client.close();

    // The audit stream records it, with nothing personal.
    const audit = h.runtime.log.readStream('$audit', 'lifecycle');
    expect(audit.map((e) => [e.type, e.data])).toEqual([['SubjectForgotten', { target: { subject: 'acc-alice' }, by: null, details: {} }]]);

    // Again: idempotent, nothing new recorded.
    expect((await forget(h, 'acc-alice')).json()).toEqual({ subject: 'acc-alice', deleted: false, scrubbed: true, audit: { version: 1, duplicate: true } });
    expect(h.runtime.log.readStream('$audit', 'lifecycle')).toHaveLength(1);

    // A backup taken after the forget: neither the key nor the plaintext; restored, bob reads, alice is null.
    const backups = tempDir('eventide-shred-backup-');
    cleanups.push(backups.remove);
    const backup = await backupLog(h.dir, join(backups.dir, 'b1'));
    expect(backup.ok).toBe(true);
    expect(backup.info.subjectKeys).toBe(true);
    expect(filesHolding(backup.dest, aliceKey)).toEqual([]);
    expect(filesHolding(backup.dest, ALICE)).toEqual([]);
    const restored = tempDir('eventide-shred-restore-');
    cleanups.push(restored.remove);
    await restoreBackup(backup.dest, restored.dir);
    const rt = await createRuntime({ dataDir: restored.dir, workers: 1 });
    try {
      expect((await rt.load<AccountState>('account', 'acc-bob')).state).toEqual({ owner: BOB, balance: 370, open: true });
      expect((await rt.load<AccountState>('account', 'acc-alice')).state).toEqual({ owner: null, balance: 372, open: true });
    } finally {
      await rt.close();
    }
  }, 120_000);

  it("keeps a view row's sealed owner, byte for byte, across deposits (no cipher per command)", async () => {
    h = await harness({}, { partitions: 4, workers: 1 });
    await openWithHistory(h, 'acc-dora', ALICE);
    const stored = (storedReads(h.runtime.log) as RuntimeLog).views;
    const generation = h.runtime.log.views.meta('balances').active;
    const sealedOwner = async () => {
      await h!.views.get('balances', 'acc-dora', { position: heads(h!.runtime) });
      return Buffer.from(stored.getRow<{ owner: Uint8Array }>('balances', generation, 'acc-dora')!.owner);
    };
    const before = await sealedOwner();
    await h.runtime.execute('account', 'acc-dora', { type: 'Deposit', data: { amount: 5 } });
    // The same bytes: no cipher and no key-store read for a field that did not change.
    expect((await sealedOwner()).equals(before)).toBe(true);
    expect((await h.views.get('balances', 'acc-dora')).row).toMatchObject({ owner: ALICE, balance: 375 });
  });

  it('refuses new personal data for a forgotten subject (its key is gone for good)', async () => {
    h = await harness({}, { partitions: 4, workers: 1 });
    expect((await forget(h, 'acc-carol')).statusCode).toBe(200);
    await expect(h.runtime.execute('account', 'acc-carol', { type: 'Open', data: { owner: 'Carol' } })).rejects.toMatchObject({ code: 'InvalidCommand' });
    expect(h.runtime.log.streamHead('account', 'acc-carol').version).toBe(0);
  });

  it('checks the subject at the edge: an id outside the pattern is a 400, nothing forgotten', async () => {
    h = await harness({}, { partitions: 4, workers: 1 });
    const res = await forget(h, 'no%20spaces');
    expect(res.statusCode).toBe(400);
    expect(h.runtime.log.readStream('$audit', 'lifecycle')).toEqual([]);
  });
});
