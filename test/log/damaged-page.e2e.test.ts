/**
 * Damage LMDB itself detects (a B-tree page of the wrong type: MDB_CORRUPTED) is reported as what it
 * is, never as `500 Internal`: reads of the damaged stream answer 503 `CorruptLog` naming LMDB's code,
 * commands on it stop its partition, and streams in undamaged pages are still served. Real server
 * process, real file, bytes changed on disk while the server is stopped.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { partitionOf } from '../../src/index.js';
import { readMetaPages } from '../../src/log/index.js';
import { postCommand, startServer, type ServerChild } from '../support/server-child.js';
import { useTempDirs } from '../support/temp-dirs.js';

const tempDir = useTempDirs('damaged-page');
const running: ServerChild[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((c) => c.kill()));
});

/** Page numbers of every page holding a key that starts with `account\0<id>\0`. */
function pagesWith(bytes: Buffer, id: string, pageSize: number): Set<number> {
  const prefix = Buffer.from(`account\u0000${id}\u0000`, 'latin1');
  const pages = new Set<number>();
  for (let at = bytes.indexOf(prefix); at >= 0; at = bytes.indexOf(prefix, at + 1)) pages.add(Math.floor(at / pageSize));
  return pages;
}

describe('a B-tree page LMDB finds damaged', () => {
  it('answers CorruptLog (503) for the stream on it, stops its partition, and serves the others', async () => {
    const dir = await tempDir();
    const env = { PARTITIONS: '4', WORKERS: '1' };
    let srv = startServer(dir, { env });
    running.push(srv);
    let url = await srv.listening;
    const bystander = Array.from({ length: 400 }, (_, i) => `aaa-${i}`).find((id) => partitionOf(id, 4) !== partitionOf('zzz-victim', 4))!;
    for (const id of [bystander, 'zzz-victim']) {
      expect((await postCommand(url, 'account', id, { type: 'Open', data: { owner: id } })).status).toBe(200);
      for (let i = 0; i < 120; i++) expect((await postCommand(url, 'account', id, { type: 'Deposit', data: { amount: 1 } })).status).toBe(200);
    }
    await srv.kill('SIGTERM');

    const file = join(dir, 'log.mdb');
    const bytes = readFileSync(file);
    const pageSize = readMetaPages(file)[0]!.pageSize;
    const victimPages = pagesWith(bytes, 'zzz-victim', pageSize);
    const bystanderPages = pagesWith(bytes, bystander, pageSize);
    let damaged = 0;
    for (const page of victimPages) {
      if (bystanderPages.has(page) || page < 2) continue;
      const flags = page * pageSize + 18; // lmdb-js's MDB_page: mp_pgno (8), mp_txnid (8), mp_pad (2), mp_flags (2)
      if ((bytes.readUInt16LE(flags) & 0x02) === 0) continue; // only leaf pages
      bytes.writeUInt16LE(0, flags); // neither branch nor leaf: LMDB says MDB_CORRUPTED
      damaged++;
    }
    expect(damaged).toBeGreaterThan(0);
    writeFileSync(file, bytes);

    srv = startServer(dir, { env });
    running.push(srv);
    url = await srv.listening;
    const history = await fetch(`${url}/aggregates/account/zzz-victim/events?from=1&limit=10`);
    const body = (await history.json()) as Record<string, unknown>;
    expect(history.status, JSON.stringify(body)).toBe(503);
    expect(body).toMatchObject({ error: 'CorruptLog' });
    // LMDB_CORRUPTED where the page is met; a read transaction LMDB failed before says MDB_BAD_TXN.
    expect(['MDB_CORRUPTED', 'MDB_BAD_TXN']).toContain(body.lmdb);
    const cmd = await postCommand(url, 'account', 'zzz-victim', { type: 'Deposit', data: { amount: 1 } });
    expect(cmd.status, JSON.stringify(cmd.body)).toBe(503);
    expect(cmd.body).toMatchObject({ error: 'CorruptLog', partition: partitionOf('zzz-victim', 4) });
    // Another stream on other pages, in another partition: reads and writes go on.
    const by = await fetch(`${url}/aggregates/account/${bystander}`);
    expect(by.status, await by.text()).toBe(200);
    const ok = await postCommand(url, 'account', bystander, { type: 'Deposit', data: { amount: 1 } });
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    expect(ok.body).toMatchObject({ version: 122 });
  }, 240_000);
});
