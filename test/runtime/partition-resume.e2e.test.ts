/**
 * A partition stopped on damage is resumed by an operator, after repair, without a restart
 * (POST /admin/partitions/:p/resume). Real server process; the damage and the repair are made by
 * another process (this test) through a raw LMDB handle, as a repair tool would.
 */
import { join } from 'node:path';
import { open } from 'lmdb';
import { afterEach, describe, expect, it } from 'vitest';
import { partitionOf } from '../../src/index.js';
import { postCommand, startServer, type ServerChild } from '../support/server-child.js';
import { useTempDirs } from '../support/temp-dirs.js';

const tempDir = useTempDirs('resume');
const running: ServerChild[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((c) => c.kill()));
});

/** Replaces the stored bytes of one event (another process: LMDB allows it); returns the old bytes. */
async function rewriteEvent(dir: string, key: [string, string, number], change: (old: Buffer) => Buffer): Promise<Buffer> {
  const raw = open({ path: join(dir, 'log.mdb'), maxDbs: 16 });
  const events = raw.openDB('events', { encoding: 'binary', keyEncoding: 'ordered-binary' });
  const old = Buffer.from(events.getBinary(key)!);
  events.putSync(key, change(Buffer.from(old)));
  await raw.close();
  return old;
}

describe('a partition stopped on damage', () => {
  it('stays stopped, is shown as stopped, and serves again once repaired and resumed, without a restart', async () => {
    const dir = await tempDir();
    const env = { PARTITIONS: '4', WORKERS: '1' };
    let srv = startServer(dir, { env });
    running.push(srv);
    let url = await srv.listening;
    // Two streams in one partition: the damage of one stops both (the partition's order is one log).
    const partition = partitionOf('hurt', 4);
    const neighbour = Array.from({ length: 200 }, (_, i) => `n-${i}`).find((id) => partitionOf(id, 4) === partition)!;
    for (const id of ['hurt', neighbour]) {
      expect((await postCommand(url, 'account', id, { type: 'Open', data: { owner: id } })).status).toBe(200);
      expect((await postCommand(url, 'account', id, { type: 'Deposit', data: { amount: 7 } })).status).toBe(200);
    }
    await srv.kill('SIGTERM');
    const original = await rewriteEvent(dir, ['account', 'hurt', 2], (b) => {
      b[b.length - 1] = b[b.length - 1]! ^ 0x20;
      return b;
    });

    srv = startServer(dir, { env });
    running.push(srv);
    url = await srv.listening;
    const refused = await postCommand(url, 'account', 'hurt', { type: 'Deposit', data: { amount: 1 } });
    expect(refused.status).toBe(503);
    expect(refused.body).toMatchObject({ error: 'CorruptRecord', partition });
    expect((await postCommand(url, 'account', neighbour, { type: 'Deposit', data: { amount: 1 } })).body.error).toBe('CorruptRecord');
    const parts = (await (await fetch(`${url}/partitions`)).json()) as { partitions: Array<{ partition: number; stopped?: string }> };
    expect(parts.partitions.find((p) => p.partition === partition)!.stopped).toMatch(/events \["account","hurt",2\]/);
    expect((await fetch(`${url}/health`)).status).toBe(503);

    // Resuming before the repair: the damage is met again and the partition stops again.
    const early = await fetch(`${url}/admin/partitions/${partition}/resume`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(early.status).toBe(200);
    expect((await postCommand(url, 'account', 'hurt', { type: 'Deposit', data: { amount: 1 } })).body.error).toBe('CorruptRecord');

    // The operator repairs the record (here: puts the intact bytes back), then resumes.
    await rewriteEvent(dir, ['account', 'hurt', 2], () => original);
    const resumed = await fetch(`${url}/admin/partitions/${partition}/resume`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(resumed.status).toBe(200);
    expect(await resumed.json()).toMatchObject({ partition, wasStopped: true, resumed: true });
    const ok = await postCommand(url, 'account', 'hurt', { type: 'Deposit', data: { amount: 1 } });
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    expect(ok.body).toMatchObject({ version: 3, state: { balance: 8 } });
    expect((await postCommand(url, 'account', neighbour, { type: 'Deposit', data: { amount: 1 } })).body).toMatchObject({ version: 3 });
    expect((await fetch(`${url}/health`)).status).toBe(200);
    const bad = await fetch(`${url}/admin/partitions/9/resume`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(bad.status).toBe(400);
  }, 240_000);
});
