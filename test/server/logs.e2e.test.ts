/**
 * What `npm start`'s entry writes, as an operator's log shipper sees it (a real child process): every
 * stdout line is a pino JSON line with pid and hostname; LOG_LEVEL is obeyed from the first line on;
 * a request answered with an error carries its code on the request-completed line; a failed start is
 * one `fatal` line on stderr with the code.
 */
import { createServer } from 'node:net';
import { hostname } from 'node:os';
import { afterAll, describe, expect, it } from 'vitest';
import { postCommand, startFailure, startServer, type ServerChild } from '../support/server-child.js';
import { useTempDirs } from '../support/temp-dirs.js';

const tempDir = useTempDirs('eventide-logs');
const running: ServerChild[] = [];
afterAll(async () => {
  await Promise.all(running.map((s) => s.kill('SIGKILL')));
});

type LogLine = { level: number; time: number; pid: number; hostname: string; msg: string } & Record<string, unknown>;
const linesOf = (out: string): LogLine[] => out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as LogLine);

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as { port: number };
  await new Promise((resolve) => s.close(resolve));
  return port;
}

describe('server logs', () => {
  it('are pino lines with pid and hostname from the first one, and error answers carry their code', async () => {
    const dir = await tempDir();
    const srv = startServer(dir);
    running.push(srv);
    const url = await srv.listening;
    expect((await postCommand(url, 'account', 'log-1', { type: 'Open', data: { owner: 'a' } })).status).toBe(200);
    expect((await postCommand(url, 'account', 'log-1', { type: 'Deposit', data: { amount: -1 } })).status).toBe(400);
    expect((await fetch(`${url}/no/such/route`)).status).toBe(404);
    expect(await srv.kill('SIGTERM')).toBe(0);

    const lines = linesOf(srv.stdout()); // JSON.parse throws on any line that is not JSON
    for (const l of lines) expect(l).toMatchObject({ pid: srv.child.pid, hostname: hostname(), level: expect.any(Number), time: expect.any(Number), msg: expect.any(String) });
    expect(lines[0]).toMatchObject({ level: 30, msg: 'eventide starting: 503 until the runtime is open', url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/) });
    const completed = lines.filter((l) => l.msg === 'request completed').map((l) => l['res']);
    expect(completed).toContainEqual({ statusCode: 200 });
    expect(completed).toContainEqual({ statusCode: 400, code: 'InvalidCommand' });
    expect(completed).toContainEqual({ statusCode: 404, code: 'NotFound' });
    expect(lines.filter((l) => l.level === 30 && l['code'] === 'InvalidCommand' && l['status'] === 400)).toHaveLength(1);
    expect(lines.at(-1)).toMatchObject({ msg: 'stopped' });
  }, 120_000);

  it('obey LOG_LEVEL from the first line: warn writes nothing on a clean run', async () => {
    const port = await freePort();
    const srv = startServer(await tempDir(), { env: { LOG_LEVEL: 'warn', PORT: String(port) } });
    running.push(srv);
    await expect.poll(async () => (await fetch(`http://127.0.0.1:${port}/health`).catch(() => undefined))?.status, { timeout: 60_000, interval: 100 }).toBe(200);
    expect((await postCommand(`http://127.0.0.1:${port}`, 'account', 'log-2', { type: 'Deposit', data: { amount: -1 } })).status).toBe(400);
    expect(await srv.kill('SIGTERM')).toBe(0);
    expect(srv.stdout()).toBe('');
    expect(srv.stderr()).toBe('');
  }, 120_000);

  it('say a failed start in one fatal line on stderr with the code: a held data dir, a bad LOG_LEVEL', async () => {
    const dir = await tempDir();
    const first = startServer(dir);
    running.push(first);
    await first.listening;
    const second = startServer(dir);
    running.push(second);
    expect(await second.exited).toBe(1);
    expect(startFailure(second.stderr())).toMatchObject({ level: 60, code: 'DataDirLocked', pid: second.child.pid, hostname: hostname(), msg: expect.stringMatching(/^eventide could not start: .*in use by process \d+/) });
    expect(second.stdout()).not.toContain('"level":60');

    const bad = startServer(await tempDir(), { env: { LOG_LEVEL: 'verbose' } });
    running.push(bad);
    expect(await bad.exited).toBe(1);
    expect(startFailure(bad.stderr())).toMatchObject({ level: 60, code: 'InvalidOptions', msg: expect.stringContaining('LOG_LEVEL must be one of') });
    expect(bad.stdout()).toBe('');
    expect(await first.kill('SIGTERM')).toBe(0);
  }, 120_000);
});
