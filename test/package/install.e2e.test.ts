/**
 * The package as users get it (issue 15, item 1): `npm pack` holds what `npm start` needs, built;
 * installed into another project with `npm install --omit=dev` (no TypeScript, no tsx), the server
 * starts from it, answers, and stops on SIGTERM; the `eventide` bin runs; `eventide/client` imports by
 * name (issue 15, item 7). And a production install of the clone itself (`npm ci --omit=dev`, where
 * `tsc` is absent) no longer fails in `prepare`.
 * npm fetches dependencies from its cache or the registry (the only network this project may use).
 */
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { useTempDirs } from '../support/temp-dirs.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const tempDir = useTempDirs('package');
const NPM_QUIET = ['--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'];

function npm(args: string[], cwd: string): { status: number | null; out: string } {
  const r = spawnSync('npm', args, { cwd, encoding: 'utf8', env: { ...process.env, npm_config_update_notifier: 'false' } });
  return { status: r.status, out: `${r.stdout}\n${r.stderr}` };
}

describe('the packed package', () => {
  it('installs with --omit=dev into another project and runs the server and the CLI from it', async () => {
    const dir = await tempDir();
    const packed = npm(['pack', '--pack-destination', dir, '--loglevel=error'], root);
    expect(packed.status, packed.out).toBe(0);
    const tarball = readdirSync(dir).find((f) => f.endsWith('.tgz'))!;
    expect(tarball).toMatch(/^eventide-.*\.tgz$/);

    const app = join(dir, 'app');
    spawnSync('mkdir', ['-p', app]);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true, type: 'module' }));
    // At warn level: a dependency declaring a newer Node than engines' (EBADENGINE) must not show up.
    const installed = npm(['install', '--omit=dev', ...NPM_QUIET.filter((o) => !o.startsWith('--loglevel')), '--loglevel=warn', join(dir, tarball)], app);
    expect(installed.status, installed.out).toBe(0);
    expect(installed.out).not.toMatch(/EBADENGINE/);
    const pkg = join(app, 'node_modules', 'eventide');
    expect(existsSync(join(pkg, 'dist/src/server/main.js'))).toBe(true);
    expect(existsSync(join(pkg, 'src/server/dashboard/index.html'))).toBe(true);
    expect(existsSync(join(app, 'node_modules', 'typescript'))).toBe(false);
    expect(existsSync(join(app, 'node_modules', 'tsx'))).toBe(false);

    // The bin entry.
    const help = spawnSync(join(app, 'node_modules/.bin/eventide'), ['--help'], { encoding: 'utf8' });
    expect(help.status, help.stderr).toBe(0);
    expect(help.stdout).toMatch(/backup/);

    // The server, from the installed package only.
    const data = join(dir, 'data');
    const server = spawn(process.execPath, [join(pkg, 'dist/src/server/main.js')], { cwd: app, env: { ...process.env, DATA_DIR: data, PORT: '0', HOST: '127.0.0.1', WORKERS: '1', VIDEO_JOBS: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<number | null>((resolve) => server.once('exit', (code) => resolve(code)));
    let stderr = '';
    server.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        createInterface({ input: server.stdout }).on('line', (line) => {
          try {
            const rec = JSON.parse(line) as { url?: string; msg?: string };
            if (rec.url && rec.msg?.startsWith('eventide listening')) resolve(rec.url);
          } catch {
            // not a log line
          }
        });
        void exited.then((code) => reject(new Error(`server exited with ${code}: ${stderr}`)));
      });
      expect((await fetch(`${url}/health`)).status).toBe(200);
      const r = await fetch(`${url}/aggregates/account/pkg-1/commands`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ type: 'Open', data: { owner: 'Ada' } }) });
      expect(r.status).toBe(200);
      expect((await fetch(`${url}/`)).headers.get('content-type')).toMatch(/text\/html/);

      // The typed client, imported by its package name (the `./client` export), built with its types.
      expect(existsSync(join(pkg, 'dist/src/client/index.d.ts'))).toBe(true);
      const script = "import { createClient } from 'eventide/client'; const { state } = await createClient({ baseUrl: process.argv[1] }).load('account', 'pkg-1'); console.log(JSON.stringify(state));";
      const viaClient = spawnSync(process.execPath, ['--input-type=module', '-e', script, url], { cwd: app, encoding: 'utf8' });
      expect(viaClient.status, viaClient.stderr).toBe(0);
      expect(JSON.parse(viaClient.stdout)).toMatchObject({ owner: 'Ada', balance: 0 });
    } finally {
      server.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  }, 300_000);

  it('lets a clone install for production (npm ci --omit=dev): prepare says how to build instead of failing', async () => {
    const dir = await tempDir();
    for (const f of ['package.json', 'package-lock.json']) cpSync(root + f, join(dir, f));
    cpSync(root + 'scripts/prepare.mjs', join(dir, 'scripts/prepare.mjs'));
    const ci = npm(['ci', '--omit=dev', ...NPM_QUIET.filter((o) => !o.startsWith('--loglevel')), '--loglevel=warn'], dir);
    expect(ci.status, ci.out).toBe(0);
    expect(ci.out).not.toMatch(/EBADENGINE/);
    expect(ci.out).toMatch(/dev dependencies are not installed, so dist\/ was not built/);
    expect(existsSync(join(dir, 'node_modules/typescript'))).toBe(false);
  }, 300_000);
});
