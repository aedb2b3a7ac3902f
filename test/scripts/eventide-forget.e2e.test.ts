/**
 * `eventide forget <subject>` (crypto-shredding on a stopped data dir), as an operator runs it: the
 * subject's personal fields read as null afterwards, the audit stream says `by: cli`, a second run
 * reports it forgotten before (exit 0 both times), a usage error exits 2, `--help` exits 0.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { AccountState } from '../../src/index.js';
import { useRuntimes } from '../support/runtimes.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const script = fileURLToPath(new URL('../../scripts/eventide.ts', import.meta.url));

function eventide(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', script, ...args], { cwd: root, env: { ...process.env, DATA_DIR: '' } }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? -1) : 0, stdout, stderr });
    });
  });
}

describe('eventide forget', () => {
  const runtimes = useRuntimes('cli-forget');

  it('forgets a subject of a stopped data dir, once, recorded as by cli', async () => {
    const dataDir = await runtimes.dataDir();
    const rt = await runtimes.start({ dataDir, partitions: 4 });
    await rt.execute('account', 'acc-1', { type: 'Open', data: { owner: 'Ophelia Pennywhistle' } });
    await rt.execute('account', 'acc-1', { type: 'Deposit', data: { amount: 10 } });
    await runtimes.close(rt);

    const first = await eventide('forget', 'acc-1', '--data-dir', dataDir, '--json');
    expect(first.code, first.stderr).toBe(0);
    expect(JSON.parse(first.stdout)).toEqual({ subject: 'acc-1', deleted: true, scrubbed: true, audit: { version: 1, duplicate: false } });
    const second = await eventide('forget', 'acc-1', '--data-dir', dataDir);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toMatch(/^already forgotten: acc-1/);

    const after = await runtimes.start({ dataDir });
    expect((await after.load<AccountState>('account', 'acc-1')).state).toEqual({ owner: null, balance: 10, open: true });
    expect(after.log.readStream('$audit', 'lifecycle').map((e) => e.data)).toEqual([{ target: { subject: 'acc-1' }, by: 'cli', details: {} }]);
  }, 180_000); // two CLI child processes, each loading tsx: slow on a loaded box

  it('exits 2 on a usage error and 0 on --help', async () => {
    expect((await eventide('forget')).code).toBe(2);
    const help = await eventide('forget', '--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^usage: eventide forget <subject>/);
  }, 120_000);
});
