/**
 * The `eventide` CLI as an operator runs it (a child process per command): exit codes (0 ok, 1 damage,
 * 2 usage or no log, 3 DataDirLocked, 4 other), the error code printed on failure, `--json` output
 * shapes, `--help` on every command, and a mistyped --data-dir refused without creating anything.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runTsScript } from '../support/child-process.js';
import { lockDataDir } from '../../src/log/index.js';
import { flipValueByte } from '../support/log-damage.js';
import { useRuntimes } from '../support/runtimes.js';
import { rejectionOf } from '../support/errors.js';
import { builtinDomains } from '../../src/runtime/index.js';
import { meterDomain } from '../support/meter-domain.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const script = fileURLToPath(new URL('../../scripts/eventide.ts', import.meta.url));

function eventide(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', script, ...args], { cwd: root, env: { ...process.env, DATA_DIR: '' } }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? -1) : 0, stdout, stderr });
    });
  });
}

describe('eventide CLI', () => {
  const runtimes = useRuntimes('cli');

  async function logWithAccounts(): Promise<string> {
    const dataDir = await runtimes.dataDir();
    const rt = await runtimes.start({ dataDir, partitions: 4 });
    for (const id of ['a', 'b', 'c']) {
      await rt.execute('account', id, { type: 'Open', data: { owner: id } }, { commandId: `open-${id}` });
      await rt.execute('account', id, { type: 'Deposit', data: { amount: 10 } });
      await rt.execute('account', id, { type: 'Deposit', data: { amount: 5 } });
    }
    await runtimes.close(rt);
    return dataDir;
  }

  it('prints help with the exit codes for every command, and exits 2 on a usage error', async () => {
    const commands = [['--help'], ['serve', '--help'], ['backup', '--help'], ['restore', '--help'], ['verify', '--help'], ['salvage', '--help'], ['views', '--help'], ['inspect', '--help'], ['retention', '--help'], ['delete', '--help'], ['undelete', '--help'], ['scavenge', '--help']];
    const results = await Promise.all(commands.map((args) => eventide(...args)));
    for (const [i, args] of commands.entries()) {
      const r = results[i]!;
      expect(r.code, args.join(' ')).toBe(0);
      expect(r.stdout).toMatch(/^usage: eventide/);
      expect(r.stdout).toContain('Exit codes');
    }
    const none = await eventide();
    expect(none.code).toBe(2);
    const bogus = await eventide('verify', '--bogus', '--json');
    expect(bogus.code).toBe(2);
    expect(bogus.stderr).toMatch(/^Usage: Unknown option '--bogus'/);
    expect(JSON.parse(bogus.stdout)).toMatchObject({ error: 'Usage' });
    expect((await eventide('frobnicate')).code).toBe(2);
  }, 180_000);

  it('verify: 0 and a per-partition JSON report on a clean log, 1 on damage, 2 without a log, 3 while the dir is held', async () => {
    const dataDir = await logWithAccounts();
    const clean = await eventide('verify', '--data-dir', dataDir, '--json');
    expect(clean.code, clean.stderr).toBe(0);
    const report = JSON.parse(clean.stdout) as { ok: boolean; partitionCount: number; partitions: Array<Record<string, unknown>>; other: Record<string, unknown>; records: Record<string, number> };
    expect(report).toMatchObject({ ok: true, partitionCount: 4, formatVersion: 3, other: { status: 'ok', problems: [], problemCount: 0 } });
    expect(report.partitions).toHaveLength(4);
    for (const p of report.partitions) expect(Object.keys(p).sort()).toEqual(['events', 'indexed', 'partition', 'problemCount', 'problems', 'status']);
    expect(report.records['events']).toBe(9);

    const lock = lockDataDir(dataDir, 'test holder');
    try {
      const held = await eventide('verify', '--data-dir', dataDir);
      expect(held.code).toBe(3);
      expect(held.stderr).toMatch(/^DataDirLocked: /);
    } finally {
      lock.release();
    }

    await flipValueByte(dataDir, 'events', ['account', 'b', 2]);
    const damaged = await eventide('verify', '--data-dir', dataDir, '--json');
    expect(damaged.code).toBe(1);
    const d = JSON.parse(damaged.stdout) as { ok: boolean; partitions: Array<{ status: string; problems: Array<{ db: string; key: string }> }> };
    expect(d.ok).toBe(false);
    expect(d.partitions.flatMap((p) => p.problems)).toContainEqual(expect.objectContaining({ db: 'events', key: '["account","b",2]' }));
    const text = await eventide('verify', '--data-dir', dataDir);
    expect(text.code).toBe(1);
    expect(text.stdout).toContain('DAMAGED');

    const typo = join(dataDir, 'no-such-dir');
    const missing = await eventide('verify', '--data-dir', typo);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^InvalidOptions: no event log in /);
    expect(existsSync(typo)).toBe(false);
  });

  it('backup, restore and salvage: JSON results, exit codes, the error code printed on failure', async () => {
    const dataDir = await logWithAccounts();
    const work = await runtimes.dataDir();
    const dest = join(work, 'b1');
    const backup = await eventide('backup', dest, '--data-dir', dataDir, '--json');
    expect(backup.code, backup.stderr).toBe(0);
    expect(JSON.parse(backup.stdout)).toMatchObject({ ok: true, dest, info: { events: 9, partitions: 4, verified: true, compacted: true } });
    const exists = await eventide('backup', dest, '--data-dir', dataDir);
    expect(exists.code).toBe(4);
    expect(exists.stderr).toMatch(/^AlreadyExists: /);
    // A data dir a server holds: the CLI never opens it from a second process; the server backs itself up.
    const holder = runTsScript(new URL('../support/lock-contender.ts', import.meta.url), [dataDir]);
    await holder.waitForLines(1);
    expect(holder.lines[0]).toBe('locked');
    const held = await eventide('backup', join(work, 'b2'), '--data-dir', dataDir);
    holder.child.stdin.end();
    await holder.exited;
    expect(held.code).toBe(3);
    expect(held.stderr).toMatch(/^DataDirLocked: .*POST \/admin\/backup/);

    const notEmpty = await eventide('restore', dest, '--data-dir', dataDir);
    expect(notEmpty.code).toBe(4);
    expect(notEmpty.stderr).toMatch(/^AlreadyExists: data dir .* is not empty/);
    const restore = await eventide('restore', dest, '--data-dir', join(work, 'r1'), '--json');
    expect(restore.code, restore.stderr).toBe(0);
    expect(JSON.parse(restore.stdout)).toMatchObject({ ok: true, verify: { ok: true } });

    await flipValueByte(dataDir, 'events', ['account', 'c', 2]);
    const salvage = await eventide('salvage', '--data-dir', dataDir, '--into', join(work, 's1'), '--json');
    expect(salvage.code, salvage.stderr).toBe(1);
    const s = JSON.parse(salvage.stdout) as { eventsKept: number; eventsLost: number; lost: Array<Record<string, unknown>>; views: Array<{ view: string; rows: number }> };
    expect(s.eventsKept).toBe(7);
    expect(s.lost.map((l) => [l['id'], l['seq']])).toEqual([
      ['c', 2],
      ['c', 3],
    ]);
    expect(s.views).toContainEqual({ view: 'balances', rows: 3 });
    const check = await eventide('verify', '--data-dir', join(work, 's1'));
    expect(check.code, check.stdout).toBe(0);
    const text = await eventide('inspect', 'account', 'c', '--data-dir', join(work, 's1'));
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('#1 ');
    expect(text.stdout).not.toContain('#2 ');
  });

  it('views: text by default with plain progress lines when stderr is no terminal, JSON with --json; npm run views and demo take --help', async () => {
    const dataDir = await logWithAccounts();
    const text = await eventide('views', 'rebuild', 'balances', '--data-dir', dataDir);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^rebuilt balances: 3 rows \(generation \d+\)\n$/);
    // No bar, no carriage return: lines a log keeps, ending at 100%.
    const progress = text.stderr.trimEnd().split('\n');
    expect(text.stderr).not.toContain('\r');
    for (const line of progress) expect(line).toMatch(/^rebuild balances: \d{1,3}% \(\d+\/9 events\)$/);
    expect(progress.at(-1)).toBe('rebuild balances: 100% (9/9 events)');
    const json = await eventide('views', 'reconcile', 'balances', '--json', '--data-dir', dataDir);
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual({ checked: 3, drift: 0, mismatches: [], repaired: 0, damaged: [] });
    const reconciled = await eventide('views', 'reconcile', 'balances', '--data-dir', dataDir);
    expect(reconciled.stdout).toBe('reconcile balances: 3 rows checked, 0 drifted\n');
    expect((await eventide('views', 'frobnicate', 'balances', '--data-dir', dataDir)).code).toBe(2);
    expect((await eventide('views', 'rebuild', 'balances', '--repair', '--data-dir', dataDir)).code).toBe(2);

    const viaNpmScript = await runTsScript(new URL('../../scripts/views.ts', import.meta.url), ['--help']).exited;
    expect(viaNpmScript).toBe(0);
    const demo = await runTsScript(new URL('../../scripts/demo.ts', import.meta.url), ['--help']);
    expect(await demo.exited).toBe(0);
    expect(demo.lines[0]).toMatch(/^usage: npm run demo/);
  }, 180_000);

  it('retention, delete and undelete: set and show settings, delete and bring back a stream, recorded as done by cli', async () => {
    const dataDir = await logWithAccounts();
    const set = await eventide('retention', 'account', 'a', '--max-count', '2', '--json', '--data-dir', dataDir);
    expect(set.code, set.stderr).toBe(0);
    expect(JSON.parse(set.stdout)).toMatchObject({ aggregateType: 'account', id: 'a', settings: { maxCount: 2 }, changed: true, stream: { head: 3, firstVersion: 2 } });
    const shown = await eventide('retention', 'account', 'a', '--data-dir', dataDir);
    expect(shown.stdout).toContain('first readable 2');
    expect((await eventide('retention', 'account', 'a', '--max-count', '0', '--data-dir', dataDir)).code).toBe(2);
    const beyond = await eventide('retention', 'account', 'a', '--truncate-before', '9', '--json', '--data-dir', dataDir);
    expect(beyond.code).toBe(4);
    expect(JSON.parse(beyond.stdout)).toMatchObject({ error: 'InvalidQuery' });

    const del = await eventide('delete', 'account', 'b', '--json', '--data-dir', dataDir);
    expect(del.code, del.stderr).toBe(0);
    expect(JSON.parse(del.stdout)).toEqual({ id: 'b', type: 'account', version: 4, changed: true });
    expect((await eventide('undelete', 'account', 'b', '--data-dir', dataDir)).stdout).toContain('undeleted at version 5');
    expect((await eventide('delete', 'account', 'c', '--hard', '--data-dir', dataDir)).stdout).toContain('tombstoned at version 4');
    const again = await eventide('undelete', 'account', 'c', '--json', '--data-dir', dataDir);
    expect(again.code).toBe(4);
    expect(JSON.parse(again.stdout)).toMatchObject({ error: 'StreamDeleted' });

    const rt = await runtimes.start({ dataDir, partitions: undefined });
    expect((await rt.history('account', 'a')).map((e) => e.seq)).toEqual([2, 3]);
    expect((await rejectionOf(rt.load('account', 'c'))).code).toBe('StreamDeleted');
    const audit = (await rt.history('$audit', 'lifecycle')).map((e) => [e.type, (e.data as { by: string }).by]);
    expect(audit).toEqual([['RetentionSet', 'cli'], ['StreamDeleted', 'cli'], ['StreamUndeleted', 'cli'], ['StreamTombstoned', 'cli']]);
  }, 180_000);

  it('scavenge: one pass on a stopped data dir, with the extra domains, recorded as done by cli', async () => {
    const dataDir = await runtimes.dataDir();
    const options = { dataDir, domains: [...builtinDomains, meterDomain], snapshotEvery: 10, scavengeEveryMs: 0 };
    let rt = await runtimes.start(options);
    for (let v = 0; v < 100; v += 10) await rt.execute('meter', 'm1', { type: 'RecordMany', data: { values: Array.from({ length: 10 }, (_, i) => v + i) } });
    await rt.setRetention({ aggregateType: 'meter', id: 'm1' }, { maxCount: 25 });
    await runtimes.close(rt);

    // Without the meter domain the type is unknown: a clear error, nothing removed.
    const unknown = await eventide('scavenge', 'meter', '--json', '--data-dir', dataDir);
    expect(unknown.code).toBe(4);
    expect(JSON.parse(unknown.stdout)).toMatchObject({ error: 'UnknownAggregateType' });
    expect((await eventide('scavenge', 'meter', '--budget', '0', '--data-dir', dataDir)).code).toBe(2);
    const json = await eventide('scavenge', '--domains', fileURLToPath(meterDomain), '--budget', '16', '--json', '--data-dir', dataDir);
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ streams: 1, events: 70, commands: 0 });
    const text = await eventide('scavenge', 'meter', 'm1', '--domains', fileURLToPath(meterDomain), '--data-dir', dataDir);
    expect(text.stdout).toMatch(/^removed 0 event\(s\) of 0 stream\(s\)/);

    rt = await runtimes.start(options);
    expect(rt.log.streamStart('meter', 'm1')).toBe(71);
    expect((await rt.load('meter', 'm1')).state).toEqual({ count: 100, sum: 4950 });
    const audit = (await rt.history('$audit', 'lifecycle')).map((e) => [e.type, (e.data as { by: string }).by]);
    expect(audit).toEqual([['RetentionSet', null], ['ScavengeCompleted', 'cli']]);
  }, 180_000);

  it('serve: runs the server with flags for the variables, stops cleanly on SIGTERM, and says a failed start with its code', async () => {
    const dataDir = join(await runtimes.dataDir(), 'served');
    const served = runTsScript(new URL('../../scripts/eventide.ts', import.meta.url), ['serve', '--data-dir', dataDir, '--port', '0', '--partitions', '2', '--workers', '1'], { env: { DATA_DIR: '', LOG_LEVEL: 'info' } });
    const lines = async (n: number) => {
      await served.waitForLines(n);
      return served.lines.map((l) => JSON.parse(l) as { msg: string; url?: string; dataDir?: string; partitions?: number; code?: string });
    };
    let log = await lines(1);
    for (let n = 2; !log.some((l) => l.msg.startsWith('eventide listening')); n++) log = await lines(n);
    expect(log).toContainEqual(expect.objectContaining({ msg: 'no event log in the data dir: creating a new one', dataDir }));
    const listening = log.find((l) => l.msg.startsWith('eventide listening'))!;
    expect(listening).toMatchObject({ dataDir, partitions: 2 });
    const res = await fetch(`${listening.url}/aggregates/account/srv-1/commands`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ type: 'Open', data: { owner: 'a' } }) });
    expect(res.status).toBe(200);

    // A second serve on the held dir: one fatal line with the code, exit 1; a bad flag: exit 2.
    const second = runTsScript(new URL('../../scripts/eventide.ts', import.meta.url), ['serve', '--data-dir', dataDir, '--port', '0'], { env: { DATA_DIR: '' } });
    expect(await second.exited).toBe(1);
    expect(JSON.parse(second.stderr().trim())).toMatchObject({ level: 60, code: 'DataDirLocked' });
    expect((await eventide('serve', '--bogus')).code).toBe(2);

    served.child.kill('SIGTERM');
    expect(await served.exited).toBe(0);
    expect(JSON.parse(served.lines.at(-1)!)).toMatchObject({ msg: 'stopped' });
    const after = await eventide('verify', '--json', '--data-dir', dataDir);
    expect(after.code, after.stderr).toBe(0);
  }, 120_000);
});
