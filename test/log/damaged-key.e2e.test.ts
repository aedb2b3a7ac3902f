/**
 * A flipped byte in an event's *key*, in the real file (DESIGN invariants 8 and 10). Before format 3 a
 * stream with a damaged key read short with HTTP 200 and the next deposits overwrote intact acked
 * events. Now: the record's checksum is bound to its key, a stream's seqs must be contiguous and its
 * fold must reach its last key, and an append never replaces a record. So reads and writes of that
 * stream fail with CorruptRecord naming it, no byte of any other event changes, other streams go on.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { open } from 'lmdb';
import { fromBufferKey } from 'ordered-binary';
import { afterEach, describe, expect, it } from 'vitest';
import { postCommand, startServer, type ServerChild } from '../support/server-child.js';
import { useTempDirs } from '../support/temp-dirs.js';

const tempDir = useTempDirs('damaged-key');
const running: ServerChild[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((c) => c.kill()));
});

/** Every stored event of a stream, as raw key and value bytes (through a raw lmdb handle). */
async function rawEvents(dir: string, id: string): Promise<Map<string, string>> {
  const raw = open({ path: join(dir, 'log.mdb'), maxDbs: 16, readOnly: true });
  const events = raw.openDB('events', { encoding: 'binary', keyEncoding: 'ordered-binary' });
  const out = new Map<string, string>();
  for (const { key, value } of events.getRange({ start: ['account', id], end: ['account', id + '\u0000'] })) out.set(JSON.stringify(key), Buffer.from(value as Buffer).toString('hex'));
  await raw.close();
  return out;
}

/**
 * Flips one bit of the seq part of the key `['account', id, seq]` in log.mdb, chosen so that the key
 * still decodes, as a seq past the stream's end (what a real bit flip in a leaf page can do).
 */
function flipSeqInKey(dir: string, id: string, seq: number, head: number): number {
  const file = join(dir, 'log.mdb');
  const bytes = readFileSync(file);
  const prefix = Buffer.from(`account\u0000${id}\u0000`, 'latin1');
  for (let at = bytes.indexOf(prefix); at >= 0; at = bytes.indexOf(prefix, at + 1)) {
    const ksize = bytes.readUInt16LE(at - 2); // LMDB leaf node: ..., mn_ksize (u16), key bytes
    if (ksize < prefix.length || ksize > 64) continue;
    const key = Buffer.from(bytes.subarray(at, at + ksize));
    let decoded: unknown;
    try {
      decoded = fromBufferKey(key);
    } catch {
      continue;
    }
    if (JSON.stringify(decoded) !== JSON.stringify(['account', id, seq])) continue;
    for (let i = prefix.length; i < ksize; i++) {
      for (let bit = 0; bit < 8; bit++) {
        const flipped = Buffer.from(key);
        flipped[i] = flipped[i]! ^ (1 << bit);
        let other: unknown;
        try {
          other = fromBufferKey(flipped);
        } catch {
          continue;
        }
        const s = Array.isArray(other) ? other[2] : undefined;
        if (other && Array.isArray(other) && other[0] === 'account' && other[1] === id && typeof s === 'number' && Number.isSafeInteger(s) && s > head) {
          bytes[at + i] = flipped[i]!;
          writeFileSync(file, bytes);
          return s;
        }
      }
    }
  }
  throw new Error(`no flippable key ['account', ${id}, ${seq}] found in ${file}`);
}

describe('a damaged event key in the file', () => {
  it('is reported as CorruptRecord on reads and writes of its stream, and no acked event is ever replaced', async () => {
    const dir = await tempDir();
    let srv = startServer(dir, { env: { PARTITIONS: '4', WORKERS: '1' } });
    running.push(srv);
    let url = await srv.listening;
    const post = (id: string, body: unknown) => postCommand(url, 'account', id, body);
    for (const id of ['victim', 'bystander']) {
      expect((await post(id, { type: 'Open', data: { owner: id } })).status).toBe(200);
      for (let i = 0; i < 150; i++) expect((await post(id, { type: 'Deposit', data: { amount: 1 }, commandId: `${id}-${i}` })).status).toBe(200);
    }
    await srv.kill('SIGTERM');
    const before = await rawEvents(dir, 'victim');
    expect(before.size).toBe(151);
    const movedTo = flipSeqInKey(dir, 'victim', 128, 151);

    srv = startServer(dir, { env: { PARTITIONS: '4', WORKERS: '1' } });
    running.push(srv);
    url = await srv.listening;
    const history = await fetch(`${url}/aggregates/account/victim/events?from=1&limit=1000`);
    expect(history.status).toBe(503);
    expect(((await history.json()) as { error: string }).error).toBe('CorruptRecord');
    const state = await fetch(`${url}/aggregates/account/victim`);
    expect(state.status).toBe(503);
    for (let i = 0; i < 3; i++) {
      const r = await post('victim', { type: 'Deposit', data: { amount: 1000 }, commandId: `late-${i}` });
      expect(r.status, JSON.stringify(r.body)).toBe(503);
      expect(r.body.error).toBe('CorruptRecord');
      expect(String(r.body.message)).toMatch(/victim/);
    }
    // Other streams are served, reads and writes.
    expect((await post('bystander', { type: 'Deposit', data: { amount: 1 } })).status).toBe(200);
    await srv.kill('SIGTERM');

    // Not one byte of the victim's other events changed, and nothing was written at any seq.
    const after = await rawEvents(dir, 'victim');
    const damagedKey = JSON.stringify(['account', 'victim', 128]);
    for (const [key, value] of before) if (key !== damagedKey) expect(after.get(key), key).toBe(value);
    expect(after.get(JSON.stringify(['account', 'victim', movedTo]))).toBe(before.get(damagedKey));
    expect(after.size).toBe(151);
  }, 240_000);
});
