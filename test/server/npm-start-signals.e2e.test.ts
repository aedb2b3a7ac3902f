/**
 * A signal to the process `npm start` started reaches the server (issue 15, item 2): npm runs the start
 * script with `sh -c`; without `exec` the shell sits between npm and node, npm's SIGTERM ends the shell,
 * and node stays behind under PPID 1 holding the port and the data dir. Docker (`CMD ["npm","start"]`)
 * and systemd signal npm. Uses the built server (`dist/`, made by `npm ci`'s prepare step).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { runTsScript } from '../support/child-process.js';
import { useTempDirs } from '../support/temp-dirs.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const tempDir = useTempDirs('npm-start');
const leftovers: number[] = [];
afterEach(() => {
  for (const pid of leftovers.splice(0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone, as it should be
    }
  }
});

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('npm start', () => {
  it.each(['SIGTERM', 'SIGINT'] as const)('passes %s to the server, which stops cleanly and frees the data dir', async (signal) => {
    expect(existsSync(`${root}dist/src/server/main.js`), 'dist/ is built by npm ci (prepare)').toBe(true);
    const dir = await tempDir();
    const npm = spawn('npm', ['start', '--silent'], { cwd: root, env: { ...process.env, DATA_DIR: dir, PORT: '0', HOST: '127.0.0.1', WORKERS: '1', VIDEO_JOBS: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    const npmExited = new Promise<number | string>((resolve) => npm.once('exit', (code, sig) => resolve(code ?? sig ?? 'unknown')));
    let stderr = '';
    npm.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const lines: string[] = [];
    const serverPid = await new Promise<number>((resolve, reject) => {
      createInterface({ input: npm.stdout }).on('line', (line) => {
        lines.push(line);
        try {
          const rec = JSON.parse(line) as { msg?: string; pid?: number };
          if (rec.msg?.startsWith('eventide listening') && typeof rec.pid === 'number') resolve(rec.pid);
        } catch {
          // npm's own lines
        }
      });
      void npmExited.then((code) => reject(new Error(`npm start exited with ${code} before listening: ${stderr}`)));
    });
    leftovers.push(serverPid);
    npm.kill(signal);
    await npmExited;
    await expect.poll(() => alive(serverPid), { timeout: 30_000 }).toBe(false);
    expect(lines.some((l) => l.includes('"msg":"stopped"')), lines.join('\n')).toBe(true);
    // The data dir is free at once for the next server.
    const next = runTsScript(new URL('../support/lock-contender.ts', import.meta.url), [dir]);
    await next.waitForLines(1);
    expect(next.lines[0]).toBe('locked');
    next.child.stdin.end();
    await next.exited;
  }, 120_000);
});
