/**
 * A damaged or missing log file is diagnosed before LMDB maps it (issue: SIGBUS on a truncated file,
 * SIGSEGV on a bad meta page, a healthy empty server on a deleted log). Each case, with real files and
 * a real child process: the process stays alive long enough to say what is wrong, in one line naming
 * the file and what to do, and nothing is created in place of the lost log.
 */
import { existsSync, readFileSync, statSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runTsScript, type ChildRun } from '../support/child-process.js';
import { startFailure, startServer, type ServerChild } from '../support/server-child.js';
import { useTempDirs } from '../support/temp-dirs.js';
import { readMetaPages, verifyDataDir } from '../../src/log/index.js';

const tempDir = useTempDirs('damaged-file');
const running: Array<ChildRun | ServerChild> = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((c) => c.kill()));
});

/** Opens a runtime on `dir` in a child process; answers its first line (`opened` or `error <code> <message>`). */
async function openIn(dir: string, deposits = 0): Promise<{ line: string; exit: number | string }> {
  const c = runTsScript(new URL('../support/runtime-child.ts', import.meta.url), [dir, '1']);
  running.push(c);
  await c.waitForLines(1).catch(() => undefined);
  const line = c.lines[0] ?? `no line; stderr: ${c.stderr()}`;
  if (line === 'opened') {
    for (let i = 0; i < deposits; i++) c.child.stdin.write(`deposit acc-${i % 7} 1 d-${i}\n`);
    await c.waitForLines(1 + deposits);
    expect(c.lines.slice(1).every((l) => l.startsWith('ok '))).toBe(true);
    c.child.stdin.write('close\n');
  }
  return { line, exit: await c.exited };
}

/** A data dir with a real log: a few hundred events in several pages. */
async function populated(): Promise<string> {
  const dir = await tempDir();
  const r = await openIn(dir, 300);
  expect(r.line).toBe('opened');
  expect(r.exit).toBe(0);
  return dir;
}

describe('a damaged or missing log file', () => {
  it('truncated to 8 KiB or to half: refused as CorruptLog naming the file and the size it needs, no SIGBUS', async () => {
    const dir = await populated();
    const file = join(dir, 'log.mdb');
    const full = readFileSync(file);
    for (const size of [8192, Math.floor(full.length / 2 / 4096) * 4096]) {
      writeFileSync(file, full);
      truncateSync(file, size);
      const r = await openIn(dir);
      expect(r.exit, r.line).toBe(0);
      expect(r.line).toMatch(new RegExp(`^error CorruptLog the event log ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is truncated: ${size} bytes, but its last page in use .* needs \\d+`));
      expect(statSync(file).size).toBe(size); // nothing "repaired" in place
      // The maintenance tools check the file the same way before mapping it (verify must not SIGBUS).
      await expect(verifyDataDir(dir)).rejects.toMatchObject({ code: 'CorruptLog', message: expect.stringMatching(/is truncated/) });
    }
    writeFileSync(file, full);
    expect((await openIn(dir)).line).toBe('opened');
  }, 240_000);

  it('with a bad magic in the newest (or the other) meta page: refused naming the meta page, no SIGSEGV', async () => {
    const dir = await populated();
    const file = join(dir, 'log.mdb');
    const full = readFileSync(file);
    const metas = readMetaPages(file);
    expect(metas.every((m) => m.ok)).toBe(true);
    const newest = metas[0]!.txnid >= metas[1]!.txnid ? 0 : 1;
    for (const index of [newest, 1 - newest]) {
      const bytes = Buffer.from(full);
      const at = index * metas[0]!.pageSize + 0x18; // first byte of mm_magic
      bytes[at] = bytes[at]! ^ 0xff;
      writeFileSync(file, bytes);
      const r = await openIn(dir);
      expect(r.exit).toBe(0);
      expect(r.line).toMatch(new RegExp(`^error CorruptLog .*has a damaged header \\(meta page ${index}: bad magic`));
    }
  }, 240_000);

  it('deleted or emptied while the manifest says a log was created: refused, never recreated empty', async () => {
    const dir = await populated();
    const file = join(dir, 'log.mdb');
    expect(JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'))).toMatchObject({ format: 3, partitions: 4, log: 'log.mdb' });
    truncateSync(file, 0);
    let r = await openIn(dir);
    expect(r.line).toMatch(/^error CorruptLog the event log .*log\.mdb is empty, but .*manifest\.json says a log was created here on .*restore the data dir from a backup/);
    unlinkSync(file);
    r = await openIn(dir);
    expect(r.line).toMatch(/^error CorruptLog the event log .*log\.mdb is missing, but .*manifest\.json says a log was created here/);
    expect(existsSync(file)).toBe(false);
  }, 240_000);

  it('is said in one line by npm start, with the code, and the server exits 1 instead of serving an empty log', async () => {
    const dir = await populated();
    unlinkSync(join(dir, 'log.mdb'));
    const srv = startServer(dir);
    running.push(srv);
    await expect(srv.listening).rejects.toThrow();
    expect(await srv.exited).toBe(1);
    const failure = startFailure(srv.stderr());
    expect(failure).toMatchObject({ level: 60, code: 'CorruptLog' });
    expect(failure.msg).toMatch(/^eventide could not start: the event log .*log\.mdb is missing, but .*manifest\.json says a log was created here/);
  }, 240_000);
});
