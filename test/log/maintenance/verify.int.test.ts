/**
 * `verifyDataDir` on real data dirs written by a real runtime, each damaged one way: it reports ok on a clean
 * log, and names the damaged database, key and partition for a flipped byte in an event value, in an
 * event key (flipped in log.mdb itself), in a partition-index value, an event missing behind an index
 * ref, and a page that disagrees with its events.
 */
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRuntime, partitionOf } from '../../../src/index.js';
import { decodeRecord, verifyDataDir, type VerifyReport } from '../../../src/log/index.js';
import { flipKeyBytesInFile, flipValueByte, readRaw, removeRecord, rewriteRecord } from '../../support/log-damage.js';
import { useRuntimes } from '../../support/runtimes.js';
import { makeTempDir, removeDir } from '../../support/temp-dirs.js';

const P = 4;

describe('verifyDataDir', () => {
  const runtimes = useRuntimes('verify');
  let template: string;

  // One log written once (accounts a0..a5 with 1 + 70 events each, so each has a page), copied per test.
  beforeAll(async () => {
    template = await makeTempDir('verify-template');
    const rt = await createRuntime({ dataDir: template, partitions: P, workers: 2 });
    try {
      await Promise.all(
        Array.from({ length: 6 }, async (_, i) => {
          await rt.execute('account', `a${i}`, { type: 'Open', data: { owner: `o${i}` } }, { commandId: `open-a${i}` });
          for (let k = 0; k < 70; k++) await rt.execute('account', `a${i}`, { type: 'Deposit', data: { amount: 1 } });
        }),
      );
      // Pages are written in the background after their events are durable.
      const paged = () => Array.from({ length: 6 }, (_, i) => rt.log.foldStream('account', `a${i}`, 1, 64, 0, (s) => s).paged).every((n) => n === 64);
      for (let tries = 0; !paged(); tries++) {
        if (tries > 2000) throw new Error('pages were not written');
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    } finally {
      await rt.close();
    }
  });
  afterAll(() => removeDir(template));

  async function writtenLog(): Promise<string> {
    const dataDir = await runtimes.dataDir();
    copyFileSync(join(template, 'log.mdb'), join(dataDir, 'log.mdb'));
    return dataDir;
  }

  async function verify(dataDir: string): Promise<VerifyReport> {
    return verifyDataDir(dataDir, { partitionOf });
  }

  const damagedOf = (r: VerifyReport) => r.partitions.filter((p) => p.status === 'damaged').map((p) => p.partition);

  it('reports ok, with every event counted and indexed, on a clean log', async () => {
    const r = await verify(await writtenLog());
    expect(r.ok).toBe(true);
    expect(r.partitionCount).toBe(P);
    expect(r.partitions.reduce((n, p) => n + p.events, 0)).toBe(6 * 71);
    expect(r.partitions.every((p) => p.events === p.indexed && p.problems.length === 0)).toBe(true);
    expect(r.records['pages']).toBeGreaterThan(0);
    expect(r.other).toEqual({ status: 'ok', problems: [], problemCount: 0 });
  });

  it('finds a flipped byte in an event value, in the stream partition', async () => {
    const dataDir = await writtenLog();
    await flipValueByte(dataDir, 'events', ['account', 'a1', 5]);
    const r = await verify(dataDir);
    expect(r.ok).toBe(false);
    expect(damagedOf(r)).toEqual([partitionOf('a1', P)]);
    const problems = r.partitions[partitionOf('a1', P)]!.problems;
    expect(problems).toContainEqual(expect.objectContaining({ db: 'events', key: '["account","a1",5]', problem: expect.stringContaining('checksum mismatch') }));
    // The index ref to it is flagged too: it points at a damaged event.
    expect(problems).toContainEqual(expect.objectContaining({ db: 'partitions', problem: expect.stringContaining('points at a damaged event account/a1#5') }));
  });

  it('finds a flipped byte in an event key (flipped in log.mdb itself)', async () => {
    const dataDir = await writtenLog();
    // Byte 9 of the stored key ["account","a2",7] is the id's '2': ^0x04 makes it '6' (an unused id).
    expect(flipKeyBytesInFile(dataDir, ['account', 'a2', 7], 9, 0x04)).toBeGreaterThan(0);
    const r = await verify(dataDir);
    expect(r.ok).toBe(false);
    const all = r.partitions.flatMap((p) => p.problems).concat(r.other.problems);
    // The stream now lacks seq 7, and a record sits at a key its checksum was not made for.
    expect(all).toContainEqual(expect.objectContaining({ db: 'events', problem: 'stream account/a2 jumps from seq 6 to 8' }));
    expect(all).toContainEqual(expect.objectContaining({ db: 'events', key: '["account","a6",7]', problem: expect.stringContaining('checksum mismatch') }));
    expect(all).toContainEqual(expect.objectContaining({ db: 'partitions', problem: expect.stringContaining('points at a missing event account/a2#7') }));
  });

  it('finds a flipped byte in a partition-index value', async () => {
    const dataDir = await writtenLog();
    const p = partitionOf('a0', P);
    await flipValueByte(dataDir, 'partitions', [p, 0]);
    const r = await verify(dataDir);
    expect(damagedOf(r)).toEqual([p]);
    expect(r.partitions[p]!.problems).toContainEqual(expect.objectContaining({ db: 'partitions', key: `[${p},0]`, problem: expect.stringContaining('checksum mismatch') }));
  });

  it('finds an event missing behind an index ref', async () => {
    const dataDir = await writtenLog();
    await removeRecord(dataDir, 'events', ['account', 'a4', 71]);
    const r = await verify(dataDir);
    const p = partitionOf('a4', P);
    expect(damagedOf(r)).toEqual([p]);
    expect(r.partitions[p]!.problems).toContainEqual(expect.objectContaining({ db: 'partitions', problem: expect.stringMatching(/offset \d+ points at a missing event account\/a4#71/) }));
  });

  it('finds a page that disagrees with the events it summarizes', async () => {
    const dataDir = await writtenLog();
    const stored = decodeRecord<unknown[][]>((await readRaw(dataDir, 'pages', ['account', 'a0', 1]))!, 'pages', ['account', 'a0', 1]);
    const forged = stored.map((e, i) => (i === 10 ? [e[0], { amount: 1000 }, ...e.slice(2)] : e));
    await rewriteRecord(dataDir, 'pages', ['account', 'a0', 1], forged);
    const r = await verify(dataDir);
    const p = partitionOf('a0', P);
    expect(damagedOf(r)).toEqual([p]);
    expect(r.partitions[p]!.problems).toEqual([{ db: 'pages', key: '["account","a0",1]', problem: 'page entry 10 (seq 11) differs from the event record (other content)' }]);
  });

  it('finds a command id naming seqs the stream does not have, and a snapshot beyond the stream head', async () => {
    const dataDir = await writtenLog();
    await rewriteRecord(dataDir, 'commands', ['account', 'a3', 'open-a3'], [1, 500]);
    await rewriteRecord(dataDir, 'snapshots', ['account', 'a3', 999], [1, { balance: 0 }, 0]);
    const r = await verify(dataDir);
    const p = partitionOf('a3', P);
    expect(damagedOf(r)).toEqual([p]);
    expect(r.partitions[p]!.problems).toEqual([
      { db: 'commands', key: '["account","a3","open-a3"]', problem: 'names seq 500, which the stream does not have' },
      { db: 'snapshots', key: '["account","a3",999]', problem: "snapshot at version 999, beyond the stream's head" },
    ]);
  });

  it('lists at most maxProblems problems per bucket and counts them all', async () => {
    const dataDir = await writtenLog();
    for (let seq = 2; seq <= 6; seq++) await flipValueByte(dataDir, 'events', ['account', 'a5', seq]);
    const r = await verifyDataDir(dataDir, { partitionOf, maxProblems: 3 });
    const v = r.partitions[partitionOf('a5', P)]!;
    expect(v.problems).toHaveLength(3);
    // 5 damaged records, the 5 index refs to them, the stream's jump from 1 to 7, the page holding them.
    expect(v.problemCount).toBe(12);
  });
});
