/**
 * `npm start` listens before the runtime and the video pipeline are ready and answers 503 "starting"
 * meanwhile (so a load balancer's probe sees "not ready", not "connection refused"), then 200.
 * Start-up is held deterministically: FFMPEG_PATH points at a wrapper that waits for a gate file
 * before it runs the real ffmpeg (the pipeline checks `ffmpeg -version` at start-up).
 */
import { spawn } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveFfmpegBinaries } from '../../src/video/index.js';
import { raw, request } from '../support/raw-http.js';
import { tempDir } from './helpers.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const tmp = tempDir('eventide-startup-');
afterAll(() => tmp.remove());

describe('npm start while it is starting', () => {
  it('answers 503 starting on every route until ready, then 200 on the same port', async () => {
    const gate = join(tmp.dir, 'gate');
    const wrapper = join(tmp.dir, 'gated-ffmpeg.sh');
    const real = resolveFfmpegBinaries().ffmpeg;
    writeFileSync(wrapper, `#!/bin/sh\nwhile [ ! -f '${gate}' ]; do sleep 0.05; done\nexec '${real}' "$@"\n`);
    chmodSync(wrapper, 0o755);
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/server/main.ts'], {
      cwd: root,
      env: { ...process.env, DATA_DIR: join(tmp.dir, 'data'), PORT: '0', HOST: '127.0.0.1', PARTITIONS: '4', WORKERS: '1', FFMPEG_PATH: wrapper, ALLOWED_HOSTS: 'ops.example' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      const lines = createInterface({ input: child.stdout! });
      const seen = (prefix: string) =>
        new Promise<string>((resolve) =>
          lines.on('line', (line) => {
            try {
              const rec = JSON.parse(line) as { url?: string; msg?: string };
              if (rec.url && rec.msg?.startsWith(prefix)) resolve(rec.url);
            } catch {
              // not a log line
            }
          }),
        );
      const listening = seen('eventide listening');
      const url = await seen('eventide starting');

      const health = await fetch(`${url}/health`);
      expect(health.status).toBe(503);
      expect(health.headers.get('retry-after')).toBe('1');
      expect(await health.json()).toEqual({ error: 'Unavailable', message: 'the server is starting', status: 'starting' });
      expect((await fetch(`${url}/aggregates/account/a/commands`, { method: 'POST' })).status).toBe(503);
      // Node's own parse errors are answered in the error shape while starting, too.
      const garbage = await raw(url, 'GARBAGE\r\n\r\n');
      expect(garbage.status).toBe(400);
      expect(garbage.json()).toMatchObject({ error: 'BadRequest' });

      writeFileSync(gate, '');
      expect(await listening).toBe(url);
      const ready = await fetch(`${url}/health`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toMatchObject({ status: 'ok' });
      // ALLOWED_HOSTS adds a name to the defaults; any other Host is refused; a missing one is malformed.
      expect((await request(url, { path: '/health', headers: { host: 'ops.example:8080' } })).status).toBe(200);
      expect((await request(url, { path: '/health', headers: { host: 'localhost' } })).status).toBe(200);
      const foreign = await request(url, { path: '/health', headers: { host: 'evil.example' } });
      expect(foreign.status).toBe(421);
      expect(foreign.json()).toMatchObject({ error: 'HostNotAllowed' });
      const hostless = await raw(url, 'GET /health HTTP/1.1\r\nConnection: close\r\n\r\n');
      expect(hostless.status).toBe(400);
      expect(hostless.json()).toMatchObject({ error: 'BadRequest' });
    } finally {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
  });
});
