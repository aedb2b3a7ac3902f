/**
 * `client.admin` against a real server on a real socket with tokens: each operator call once on its
 * happy path, the answers the server documents, the audit stream recording who did what, and the
 * errors a caller tells apart by code (a token without the admin scope, a name in use, no such
 * partition, nothing to undelete).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type EventideClient } from '../../src/client/index.js';
import type { AccountState } from '../../src/domain/index.js';
import { harness, tempDir, type Harness } from '../server/helpers.js';
import { clientFailureOf as failure } from '../support/errors.js';

const ADMIN = 'admin-token-0123456789abcdef';
const WRITE = 'write-token-0123456789abcdef';

let h: Harness;
let backups: ReturnType<typeof tempDir>;
let ops: EventideClient;
let app: EventideClient;

beforeAll(async () => {
  backups = tempDir('eventide-client-backups-');
  h = await harness({
    backupDir: backups.dir,
    security: {
      tokens: [
        { name: 'ops', token: ADMIN, scopes: ['admin'] },
        { name: 'app', token: WRITE, scopes: ['write'] },
      ],
      rateLimit: false,
    },
  });
  const url = await h.listen();
  ops = createClient({ baseUrl: url, token: ADMIN });
  app = createClient({ baseUrl: url, token: WRITE });
  for (const id of ['adm-1', 'adm-2', 'adm-3']) {
    await app.execute('account', id, { type: 'Open', data: { owner: 'Ada' } });
    for (let i = 0; i < 5; i++) await app.execute('account', id, { type: 'Deposit', data: { amount: 10 } });
  }
});

afterAll(async () => {
  await h?.close();
  backups?.remove();
});

describe('client.admin', () => {
  it('is refused to a token without the admin scope', async () => {
    const err = await failure(app.admin.audit());
    expect({ code: err.code, status: err.status }).toEqual({ code: 'Forbidden', status: 403 });
  });

  it('sets, reads and removes retention, for a type and for one stream', async () => {
    expect(await ops.admin.retention('account')).toEqual({ aggregateType: 'account', settings: null });
    const set = await ops.admin.setRetention('account', { maxCount: 4 }, { commandId: 'ret-1' });
    expect(set).toMatchObject({ aggregateType: 'account', settings: { maxCount: 4 }, changed: true });
    expect(await ops.admin.setRetention('account', { maxCount: 4 }, { commandId: 'ret-1' })).toMatchObject({ changed: false });

    const stream = await ops.admin.retention('account', { id: 'adm-1' });
    expect(stream).toEqual({ aggregateType: 'account', id: 'adm-1', settings: null, stream: { effective: { maxCount: 4 }, source: 'type', head: 6, firstVersion: 3 } });
    expect((await app.history('account', 'adm-1')).events.map((e) => e.seq)).toEqual([3, 4, 5, 6]);

    const own = await ops.admin.setRetention('account', { truncateBefore: 2 }, { id: 'adm-1' });
    expect(own).toMatchObject({ id: 'adm-1', settings: { truncateBefore: 2 }, stream: { source: 'stream', firstVersion: 2 }, changed: true });
    await ops.admin.setRetention('account', null, { id: 'adm-1' });
    expect(await ops.admin.setRetention('account', null)).toMatchObject({ settings: null, changed: true });
    expect((await app.history('account', 'adm-1')).events).toHaveLength(6);

    const bad = await failure(ops.admin.setRetention('account', { maxCount: 0 }));
    expect({ code: bad.code, status: bad.status }).toEqual({ code: 'InvalidCommand', status: 400 });
  });

  it('deletes a stream softly and undeletes it, then tombstones another for good', async () => {
    const soft = await ops.admin.deleteStream('account', 'adm-2', { commandId: 'del-1', expectedVersion: 6 });
    expect(soft).toEqual({ id: 'adm-2', type: 'account', version: 7, changed: true, deleted: 'soft' });
    expect((await failure(app.load('account', 'adm-2'))).code).toBe('StreamNotFound');
    expect(await ops.admin.undeleteStream('account', 'adm-2', { commandId: 'undel-1' })).toEqual({ id: 'adm-2', type: 'account', version: 8, changed: true });
    expect((await app.load<AccountState>('account', 'adm-2')).state.balance).toBe(50);
    expect((await failure(ops.admin.undeleteStream('account', 'adm-2'))).code).toBe('StreamNotDeleted');

    expect(await ops.admin.deleteStream('account', 'adm-3', { hard: true })).toMatchObject({ deleted: 'hard', changed: true });
    const gone = await failure(app.load('account', 'adm-3'));
    expect({ code: gone.code, status: gone.status }).toEqual({ code: 'StreamDeleted', status: 410 });
  });

  it('runs a scavenge pass and answers the last one', async () => {
    const report = await ops.admin.scavenge({ aggregateType: 'account' });
    expect(report).toEqual({ streams: expect.any(Number), events: expect.any(Number), pages: expect.any(Number), snapshots: expect.any(Number), commands: expect.any(Number), indexOffsets: expect.any(Number), skipped: expect.any(Array) });
    const last = await ops.admin.lastScavenge();
    expect(last).toEqual({ at: expect.any(Number), report });
  });

  it('forgets a data subject once: its personal fields read as null', async () => {
    const first = await ops.admin.forget('adm-1');
    expect(first).toMatchObject({ subject: 'adm-1', deleted: true, audit: { duplicate: false } });
    expect((await app.load<AccountState>('account', 'adm-1')).state.owner).toBeNull();
    expect(await ops.admin.forget('adm-1')).toMatchObject({ subject: 'adm-1', deleted: false, audit: { version: first.audit.version } });
  });

  it('reads the audit stream both ways, each change recorded with the token that made it', async () => {
    const newest = await ops.admin.audit({ limit: 2 });
    expect(newest.records.map((r) => r.seq)).toEqual([newest.head, newest.head - 1]);
    expect(newest.older).toBe(newest.head - 1);
    const all = [];
    for await (const r of ops.admin.auditRecords({ limit: 2 })) all.push(r);
    expect(all.map((r) => r.seq)).toEqual(Array.from({ length: newest.head }, (_, i) => i + 1));
    const asked = all.filter((r) => r.by === 'ops').map((r) => r.kind);
    expect(asked).toEqual(expect.arrayContaining(['RetentionSet', 'StreamDeleted', 'StreamUndeleted', 'StreamTombstoned', 'SubjectForgotten']));
    expect(all.every((r) => r.by === 'ops' || r.by === null)).toBe(true);
  });

  it('takes a verified backup under a name, refuses the name again, and verifies the live log', async () => {
    const b = await ops.admin.backup('client-1');
    expect(b).toMatchObject({ name: 'client-1', ok: true, tool: 'eventide', verified: true, partitions: 4 });
    expect((b as unknown as Record<string, unknown>)['source']).toBeUndefined();
    const again = await failure(ops.admin.backup('client-1'));
    expect({ code: again.code, status: again.status }).toEqual({ code: 'AlreadyExists', status: 409 });
    const v = await ops.admin.verify();
    expect(v).toMatchObject({ ok: true, partitionCount: 4, other: { status: 'ok', problemCount: 0 } });
    expect(v.partitions.map((p) => p.status)).toEqual(['ok', 'ok', 'ok', 'ok']);
  });

  it('resumes writes and a partition (both running: nothing to do), and names a partition that does not exist', async () => {
    expect(await ops.admin.resumeWrites()).toEqual({ resumed: false, workers: [] });
    expect(await ops.admin.resumePartition(0)).toMatchObject({ partition: 0, wasStopped: false, resumed: true });
    const none = await failure(ops.admin.resumePartition(99));
    expect({ code: none.code, status: none.status }).toEqual({ code: 'InvalidQuery', status: 400 });
  });
});
