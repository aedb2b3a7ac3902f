/**
 * One writer per data dir (DESIGN invariant 9), with real processes: the lock is a kernel flock, so it
 * holds across pid namespaces, is free the moment its holder is killed (zombie or not), and two
 * contenders can never both win. Behind it the log is fenced: a process that lost the data dir (its lock
 * file deleted, a second server let in) has its writes refused with `Fenced`, never interleaved.
 */
import { spawn } from 'node:child_process';
import { readFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { runTsScript, type ChildRun } from '../support/child-process.js';
import { postCommand, startServer, type ServerChild } from '../support/server-child.js';
import { useTempDirs } from '../support/temp-dirs.js';
import { LmdbLog } from '../../src/log/index.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const tempDir = useTempDirs('lock');
const running: Array<ServerChild | ChildRun> = [];
/** Each test starts several node processes: seconds each on a loaded 2-core box. A wait, not a speed bound. */
const SLOW = 240_000;
afterEach(async () => {
  await Promise.all(running.splice(0).map((c) => c.kill()));
});

const contender = (dir: string): ChildRun => {
  const c = runTsScript(new URL('../support/lock-contender.ts', import.meta.url), [dir]);
  running.push(c);
  return c;
};
const runtimeChild = (dir: string, workers = 1): ChildRun => {
  const c = runTsScript(new URL('../support/runtime-child.ts', import.meta.url), [dir, String(workers)]);
  running.push(c);
  return c;
};
const server = (dir: string, options?: Parameters<typeof startServer>[1]): ServerChild => {
  const s = startServer(dir, options);
  running.push(s);
  return s;
};

describe('the data-dir lock', () => {
  it('refuses a second server started in another pid namespace while the first one serves', async () => {
    const dir = await tempDir();
    const first = server(dir);
    const url = await first.listening;
    expect((await postCommand(url, 'account', 'ns-1', { type: 'Open', data: { owner: 'a' } })).status).toBe(200);
    // A second container on the same volume: its own pid namespace sees none of our processes.
    const second = server(dir, { wrapper: ['unshare', '--pid', '--fork', '--mount-proc'] });
    await expect(second.listening).rejects.toThrow(/DataDirLocked|in use by process/);
    expect(await second.exited).not.toBe(0);
    expect(second.stderr()).toMatch(/data dir .* is in use by process \d+/);
    // The first keeps writing, alone.
    expect((await postCommand(url, 'account', 'ns-1', { type: 'Deposit', data: { amount: 5 } })).status).toBe(200);
  }, SLOW);

  it('is free for an immediate restart after kill -9, every time, even while the dead holder is a zombie', async () => {
    const dir = await tempDir();
    for (let round = 0; round < 3; round++) {
      // The holder's parent (`sh`, which then becomes `sleep`) never reaps it: killed, it stays a zombie,
      // so a pid-based lock would still call it alive (what a supervisor without back-off ran into).
      const script = fileURLToPath(new URL('../support/runtime-child.ts', import.meta.url));
      const sh = spawn('sh', ['-c', `"${process.execPath}" --import tsx "${script}" "${dir}" 1 & echo "pid $!"; exec sleep 600`], { cwd: root, stdio: ['pipe', 'pipe', 'pipe'] });
      const lines: string[] = [];
      const next = (n: number) => new Promise<void>((resolve) => { const t = setInterval(() => { if (lines.length >= n) { clearInterval(t); resolve(); } }, 20); });
      createInterface({ input: sh.stdout }).on('line', (l) => lines.push(l));
      await next(2);
      const pid = Number(lines[0]!.split(' ')[1]);
      expect(lines[1]).toBe('opened');
      process.kill(pid, 'SIGKILL');
      await expect.poll(() => readFileSync(`/proc/${pid}/stat`, 'utf8').split(' ')[2]).toBe('Z');
      const c = runtimeChild(dir);
      await c.waitForLines(1);
      expect(c.lines[0], c.stderr()).toBe('opened');
      c.child.stdin.write(`deposit acc-${round} 1 r${round}\n`);
      await c.waitForLines(2);
      expect(c.lines[1]).toBe(`ok r${round} 2`);
      await c.kill();
      sh.kill('SIGKILL'); // the zombie goes with its parent
    }
  }, SLOW);

  it('lets exactly one of two simultaneous contenders win, in every trial', async () => {
    const dir = await tempDir();
    for (let trial = 0; trial < 6; trial++) {
      const a = contender(dir);
      const b = contender(dir);
      await Promise.all([a.waitForLines(1), b.waitForLines(1)]);
      const outcomes = [a.lines[0], b.lines[0]].sort();
      expect(outcomes, `trial ${trial}`).toEqual(['error DataDirLocked', 'locked']);
      a.child.stdin.end();
      b.child.stdin.end();
      await Promise.all([a.exited, b.exited]);
    }
  }, SLOW);

  it('is not taken from its holder when another process releases or dies', async () => {
    const dir = await tempDir();
    const holder = contender(dir);
    await holder.waitForLines(1);
    expect(holder.lines[0]).toBe('locked');
    const refused = contender(dir);
    await refused.waitForLines(1);
    expect(refused.lines[0]).toBe('error DataDirLocked');
    await refused.kill();
    const again = contender(dir);
    await again.waitForLines(1);
    expect(again.lines[0]).toBe('error DataDirLocked');
    holder.child.stdin.end();
    await holder.exited;
    const next = contender(dir);
    await next.waitForLines(1);
    expect(next.lines[0]).toBe('locked');
  }, SLOW);
});

describe('the owner epoch fence', () => {
  it('refuses every write of a process that lost the data dir, and loses none it acknowledged', async () => {
    const dir = await tempDir();
    const old = runtimeChild(dir, 2);
    await old.waitForLines(1);
    expect(old.lines[0], old.stderr()).toBe('opened');
    for (let i = 0; i < 20; i++) old.child.stdin.write(`deposit f-${i % 4} 1 old-${i}\n`);
    await old.waitForLines(21);
    expect(old.lines.slice(1).every((l) => l.startsWith('ok '))).toBe(true);

    // The lock is bypassed (its file deleted): a newcomer with another worker count gets in.
    unlinkSync(join(dir, 'owner.lock'));
    const newcomer = runtimeChild(dir, 1);
    await newcomer.waitForLines(1);
    expect(newcomer.lines[0], newcomer.stderr()).toBe('opened');
    for (let i = 0; i < 8; i++) newcomer.child.stdin.write(`deposit f-${i % 4} 10 new-${i}\n`);
    await newcomer.waitForLines(9);
    expect(newcomer.lines.slice(1).every((l) => l.startsWith('ok ')), newcomer.lines.join('\n')).toBe(true);

    // The deposed owner's next writes are refused, whole.
    for (let i = 0; i < 8; i++) old.child.stdin.write(`deposit f-${i % 4} 100 late-${i}\n`);
    await old.waitForLines(29);
    const late = old.lines.slice(21);
    expect(late.every((l) => / (Fenced|StorageFailed|WorkerCrashed|RuntimeClosed)$/.test(l)), late.join('\n')).toBe(true);
    expect(late.some((l) => l.endsWith(' Fenced'))).toBe(true);
    await old.kill();
    newcomer.child.stdin.write('close\n');
    await newcomer.exited;

    // Every acknowledged deposit is there once, seqs contiguous, nothing of the deposed owner after the takeover.
    const log = LmdbLog.open(dir, { readOnly: true });
    try {
      for (let a = 0; a < 4; a++) {
        const events = log.readStream('account', `f-${a}`);
        expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
        const ids = events.map((e) => e.meta.commandId).filter((c) => c !== undefined);
        expect(ids.filter((c) => c!.startsWith('late-'))).toEqual([]);
        expect(ids.filter((c) => c!.startsWith('old-')).length).toBe(5);
        expect(ids.filter((c) => c!.startsWith('new-')).length).toBe(2);
        expect(new Set(ids).size).toBe(ids.length);
      }
      for (let p = 0; p < 4; p++) expect([...log.iteratePartition(p)].map((e) => e.offset)).toEqual(Array.from({ length: log.partitionHead(p) }, (_, i) => i));
    } finally {
      await log.close();
    }
  }, SLOW);
});
