/**
 * Backup of a data dir whose writer was killed mid-stream (test a backup by restoring it, DESIGN
 * pitfalls): every command acknowledged before the kill is in the restored log, whole; the restored log
 * verifies; a runtime opens it and keeps writing. (The hot backup of a live server runs inside it,
 * `POST /admin/backup`: test/server/admin-routes.int.test.ts; a second process never opens a live
 * server's environment.) Restore refuses a data dir that is not empty, and a
 * backup that does not verify (the backup of a damaged log says so).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { builtinDomains } from '../../../src/index.js';
import { backupLog, restoreBackup, type BackupInfo } from '../../../src/log/index.js';
import { partitionOf } from '../../../src/partition/index.js';
import { runTsScript } from '../../support/child-process.js';
import { crashyDomain } from '../../support/crashy-domain.js';
import { rejectionOf } from '../../support/errors.js';
import { flipValueByte } from '../../support/log-damage.js';
import { useRuntimes } from '../../support/runtimes.js';

const writer = new URL('../../support/durability-writer.ts', import.meta.url);

interface Ack {
  type: string;
  id: string;
  commandId: string;
  version: number;
  events: number;
}
const acksOf = (lines: string[]): Ack[] =>
  lines
    .filter((l) => l.startsWith('ack '))
    .map((l) => {
      const [, type, id, commandId, version, events] = l.split(' ');
      return { type: type!, id: id!, commandId: commandId!, version: Number(version), events: Number(events) };
    });

describe('hot backup and restore', () => {
  const runtimes = useRuntimes('backup');

  it('restores every command acknowledged before its writer was killed, and the restored log runs', async () => {
    const dataDir = await runtimes.dataDir();
    const child = runTsScript(writer, [dataDir]);
    let acked: Ack[];
    let backupDir: string;
    try {
      await child.waitForLines(300);
      acked = acksOf(await child.kill());
      backupDir = join(await runtimes.dataDir(), 'nightly');
      const r = await backupLog(dataDir, backupDir, { verify: { partitionOf } });
      expect(r.ok).toBe(true);
      expect(r.verify.ok).toBe(true);
      const info = JSON.parse(readFileSync(join(backupDir, 'backup.json'), 'utf8')) as BackupInfo;
      expect(info).toMatchObject({ tool: 'eventide', formatVersion: 3, partitions: 4, compacted: true, verified: true, source: dataDir });
      expect(info.eventsPerPartition.reduce((a, b) => a + b, 0)).toBe(info.events);
      expect(info.events).toBeGreaterThanOrEqual(acked.reduce((n, a) => n + a.events, 0));
      // The key store (crypto-shredding) goes with the log: the accounts' owners are sealed with it.
      expect(readdirSync(backupDir).sort()).toEqual(['backup.json', 'keys.mdb', 'log.mdb']);
    } finally {
      await child.kill();
    }

    const restored = join(await runtimes.dataDir(), 'restored');
    const r = await restoreBackup(backupDir, restored, { verify: { partitionOf } });
    expect(r.ok).toBe(true);
    expect(r.verify.ok).toBe(true);

    const rt = await runtimes.start({ dataDir: restored, partitions: undefined, workers: 2, domains: [...builtinDomains, crashyDomain] });
    for (const a of acked) {
      // The command's idempotency record and each of its events: all there, whole.
      expect(rt.log.findCommand(a.type, a.id, a.commandId), `${a.type}/${a.id} ${a.commandId}`).toMatchObject({ first: a.version - a.events + 1, last: a.version });
      for (let seq = a.version - a.events + 1; seq <= a.version; seq++) expect(rt.log.readEvent(a.type, a.id, seq)?.meta.commandId).toBe(a.commandId);
    }
    // It keeps writing: the next command of a restored stream follows its head.
    const last = acked.filter((a) => a.type === 'account').at(-1)!;
    const head = rt.log.streamHead('account', last.id).version;
    const next = await rt.execute('account', last.id, { type: 'Deposit', data: { amount: 1 } });
    expect(next.version).toBe(head + 1);
  });

  it('refuses a backup destination that exists, and a restore into a data dir that is not empty unless forced', async () => {
    const dataDir = await runtimes.dataDir();
    const rt = await runtimes.start({ dataDir, partitions: 2 });
    await rt.execute('account', 'a', { type: 'Open', data: { owner: 'a' } });
    await runtimes.close(rt);
    const dest = join(await runtimes.dataDir(), 'b1');
    await backupLog(dataDir, dest);
    expect((await rejectionOf(backupLog(dataDir, dest))).code).toBe('AlreadyExists');

    const target = await runtimes.dataDir();
    writeFileSync(join(target, 'notes.txt'), 'keep me');
    expect((await rejectionOf(restoreBackup(dest, target))).code).toBe('AlreadyExists');
    const forced = await restoreBackup(dest, target, { force: true });
    expect(forced.ok).toBe(true);
    expect(readFileSync(join(target, 'notes.txt'), 'utf8')).toBe('keep me');

    // A damaged source gives a backup that says so (kept, for what it holds), and it does not restore.
    const again = await runtimes.start({ dataDir, partitions: 2 });
    await again.execute('account', 'a', { type: 'Deposit', data: { amount: 3 } });
    await runtimes.close(again);
    await flipValueByte(dataDir, 'events', ['account', 'a', 2]);
    const damaged = await backupLog(dataDir, join(target, 'b2'), { verify: { partitionOf } });
    expect(damaged.ok).toBe(false);
    expect(damaged.info.verified).toBe(false);
    expect(damaged.verify.partitions[partitionOf('a', 2)]!.problems).toContainEqual(expect.objectContaining({ db: 'events', key: '["account","a",2]' }));
    const into = join(target, 'from-damaged');
    const refused = await rejectionOf(restoreBackup(join(target, 'b2'), into));
    expect(refused.code).toBe('CorruptLog');
    expect(existsSync(join(into, 'log.mdb'))).toBe(false);

    const nowhere = join(target, 'nope');
    mkdirSync(nowhere);
    expect((await rejectionOf(restoreBackup(nowhere, join(target, 'x')))).message).toContain('is not a backup');
    expect(existsSync(join(target, 'x'))).toBe(false);
  });
});
