/**
 * Protected mode through the real `npm start` entry (src/server/main.ts in a child process): with no
 * token it refuses a non-loopback HOST with one clear line and exit 1, unless ALLOW_UNAUTHENTICATED=1;
 * with tokens (EVENTIDE_TOKENS) it listens there and asks for them.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers.js';
import { startFailure } from '../../support/server-child.js';
import { http } from './clients.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const tmp = tempDir('eventide-protected-');
afterAll(() => tmp.remove());

function start(env: Record<string, string>, name: string) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server/main.ts'], {
    cwd: root,
    env: { ...process.env, DATA_DIR: join(tmp.dir, name), PORT: '0', PARTITIONS: '2', WORKERS: '1', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += String(d)));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const lines = createInterface({ input: child.stdout! });
  // The first line main.ts prints once it listens carries the URL.
  const url = new Promise<string>((resolve) =>
    lines.on('line', (line) => {
      try {
        const rec = JSON.parse(line) as { url?: string };
        if (rec.url) resolve(rec.url);
      } catch {
        // not a log line
      }
    }),
  );
  return {
    url,
    exited,
    stderr: () => stderr,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

describe('npm start on a non-loopback address', () => {
  it('refuses to start without tokens, with one line naming the ways out', async () => {
    const s = start({ HOST: '0.0.0.0' }, 'refused');
    expect(await s.exited).toBe(1);
    const failure = startFailure(s.stderr());
    expect(failure.code).toBe('InvalidOptions');
    expect(failure.msg).toMatch(/refusing to listen on 0\.0\.0\.0 without authentication: configure tokens \(TOKENS_FILE or EVENTIDE_TOKENS\), listen on 127\.0\.0\.1, or set ALLOW_UNAUTHENTICATED=1/);
  });

  it('starts when told ALLOW_UNAUTHENTICATED=1', async () => {
    const s = start({ HOST: '0.0.0.0', ALLOW_UNAUTHENTICATED: '1' }, 'allowed');
    try {
      const url = (await s.url).replace('0.0.0.0', '127.0.0.1');
      await expect.poll(async () => (await http(`${url}/partitions`)).status).toBe(200);
    } finally {
      await s.stop();
    }
  });

  it('starts with tokens and asks for them', async () => {
    const token = 'e2e-token-0123456789abcdef';
    const s = start({ HOST: '0.0.0.0', EVENTIDE_TOKENS: `ops:${token}:read` }, 'tokens');
    try {
      const url = (await s.url).replace('0.0.0.0', '127.0.0.1');
      await expect.poll(async () => (await http(`${url}/health`)).status).toBe(200);
      const refused = await http(`${url}/partitions`);
      expect(refused.status).toBe(401);
      expect(refused.json()).toMatchObject({ error: 'Unauthorized' });
      expect((await http(`${url}/partitions`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
    } finally {
      await s.stop();
    }
  });

  it('refuses a bad token configuration with one line', async () => {
    const s = start({ HOST: '127.0.0.1', EVENTIDE_TOKENS: 'ops:short:read' }, 'bad-config');
    expect(await s.exited).toBe(1);
    expect(startFailure(s.stderr()).msg).toMatch(/token #1 \("ops"\): a token is 16 to 512 characters/);
    expect(s.stderr()).not.toContain('short:read');
  });
});
