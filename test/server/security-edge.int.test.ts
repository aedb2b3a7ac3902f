/**
 * Issue 11, items 1, 3, 7 and 8, over real sockets: only public commands over HTTP (the video forgery is
 * refused), allowed hosts (DNS rebinding) on every route and the feed handshake, JSON-only bodies on every
 * mutating route, well-formed text, and one error shape for every answer, including Node's and the
 * router's own, with client mistakes logged without stacks.
 */
import { createServer } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VideoState } from '../../src/domain/index.js';
import { raw, request, type RawAnswer } from '../support/raw-http.js';
import { harness, type Harness } from './helpers.js';

let h: Harness;
let url: string;
let port: string;

beforeAll(async () => {
  h = await harness({ allowedHosts: ['eventide.internal'] });
  url = await h.listen();
  port = new URL(url).port;
});
afterAll(async () => {
  await h?.close();
});

const json = { 'content-type': 'application/json' };
const post = (path: string, body: unknown, headers: Record<string, string> = json) => request(url, { method: 'POST', path, headers, body: typeof body === 'string' ? body : JSON.stringify(body) });
const expectError = (r: RawAnswer, status: number, code: string): Record<string, unknown> => {
  expect(r.status).toBe(status);
  expect(r.headers['content-type']).toMatch(/^application\/json/);
  const body = r.json();
  expect(body).toMatchObject({ error: code, message: expect.any(String) });
  return body;
};

describe('public and internal commands', () => {
  const sha256 = 'f'.repeat(64);

  it('refuses the forgery sequence of the issue over HTTP and leaves the video as it was', async () => {
    const id = 'v-forged';
    // What the pipeline records after an upload (in process, as the pipeline does).
    await h.runtime.execute('video', id, { type: 'Upload', data: { path: `videos/${id}/source`, bytes: 100, sha256, contentType: 'application/octet-stream' } });
    const forgery = [
      { type: 'StartProcessing', data: { attempt: 1 } },
      { type: 'CompleteRendition', data: { attempt: 1, height: 720, path: `videos/${id}/source`, bytes: 100 } },
      { type: 'Succeed', data: { attempt: 1 } },
    ];
    for (const command of forgery) {
      const body = expectError(await post(`/aggregates/video/${id}/commands`, command), 400, 'UnknownCommandType');
      // Answered as a command that does not exist: only the public ones are listed.
      expect(body.known).toEqual(['Cancel']);
      expect(body.message).toBe(`no command ${JSON.stringify(command.type)}; known: Cancel`);
    }
    expect(h.runtime.log.streamHead('video', id).version).toBe(1);
    const { state } = await h.runtime.load<VideoState>('video', id);
    expect(state).toMatchObject({ status: 'UPLOADED', renditions: [], attempt: 0 });
  });

  it('refuses a forged Upload (any path, any content type) and the other internal commands', async () => {
    const internal = [
      { type: 'Upload', data: { path: 'videos/v-x/source', bytes: 1, sha256, contentType: 'text/html' } },
      { type: 'ReportProgress', data: { attempt: 1, percent: 50 } },
      { type: 'Fail', data: { attempt: 1, reason: 'chosen by an attacker', retriable: true } },
    ];
    for (const command of internal) expectError(await post('/aggregates/video/v-upload-forged/commands', command), 400, 'UnknownCommandType');
    expect(h.runtime.log.streamHead('video', 'v-upload-forged').version).toBe(0);
  });

  it('still takes the public commands over HTTP (account commands, a video Cancel)', async () => {
    expect((await post('/aggregates/account/acc-public/commands', { type: 'Open', data: { owner: 'Ada' } })).status).toBe(200);
    const dep = await post('/aggregates/account/acc-public/commands', { type: 'Deposit', data: { amount: 5 } });
    expect(dep.status).toBe(200);
    expect(dep.json()).toMatchObject({ version: 2, state: { balance: 5 } });
    await h.runtime.execute('video', 'v-cancel-public', { type: 'Upload', data: { path: 'videos/v-cancel-public/source', bytes: 1, sha256 } });
    const cancel = await post('/aggregates/video/v-cancel-public/commands', { type: 'Cancel', data: { reason: 'not wanted' } });
    expect(cancel.status).toBe(200);
    expect(cancel.json()).toMatchObject({ state: { status: 'CANCELLED' } });
  });

  it('still lets in-process callers (runtime.execute) send the internal commands', async () => {
    const id = 'v-internal-ok';
    await h.runtime.execute('video', id, { type: 'Upload', data: { path: `videos/${id}/source`, bytes: 100, sha256 } });
    await h.runtime.execute('video', id, { type: 'StartProcessing', data: { attempt: 1 } });
    await h.runtime.execute('video', id, { type: 'CompleteRendition', data: { attempt: 1, height: 240, path: `videos/${id}/240.mp4`, bytes: 50 } });
    const r = await h.runtime.execute<VideoState>('video', id, { type: 'Succeed', data: { attempt: 1 } });
    expect(r.state.status).toBe('SUCCEEDED');
  });
});

describe('allowed hosts (DNS rebinding)', () => {
  it.each(['evil.example', `evil.example:${'3000'}`, 'localhost.evil.example', '127.0.0.1.nip.io'])('answers 421 HostNotAllowed to Host: %s, on reads and on commands', async (host) => {
    expectError(await request(url, { path: '/health', headers: { host } }), 421, 'HostNotAllowed');
    const r = await post('/aggregates/account/acc-rebind/commands', { type: 'Open', data: { owner: 'Mallory' } }, { ...json, host });
    expect(expectError(r, 421, 'HostNotAllowed').host).toBe(host.split(':')[0]);
    expect(h.runtime.log.streamHead('account', 'acc-rebind').version).toBe(0);
  });

  it('answers 421 to a feed handshake with a foreign Host, before the upgrade', async () => {
    const handshake = (host: string) =>
      raw(url, `GET /feed HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    const refused = await handshake('evil.example');
    expectError(refused, 421, 'HostNotAllowed');
    // The same handshake with the server's own address is upgraded (the socket is then closed by the test's end).
    const ok = rawUpgradeStatus(`127.0.0.1:${port}`);
    expect(await ok).toBe(101);
  });

  it.each(['localhost', `localhost:${'1234'}`, '127.0.0.1', `127.0.0.1:${'80'}`, '[::1]', '[::1]:3000', 'LOCALHOST', 'eventide.internal', 'eventide.internal:8443'])(
    'accepts Host: %s (the defaults, any port, and a configured name)',
    async (host) => {
      const r = await request(url, { path: '/health', headers: { host } });
      expect(r.status).toBe(200);
    },
  );

  it('answers 400 BadRequest to an HTTP/1.1 request without Host, and serves HTTP/1.0 without one', async () => {
    expectError(await raw(url, 'GET /health HTTP/1.1\r\nConnection: close\r\n\r\n'), 400, 'BadRequest');
    const old = await raw(url, 'GET /health HTTP/1.0\r\n\r\n');
    expect(old.status).toBe(200);
  });

  it('takes any host with allowedHosts: "*", and refuses a malformed entry at start-up', async () => {
    const open = await harness({ allowedHosts: '*' });
    try {
      const u = await open.listen();
      expect((await request(u, { path: '/health', headers: { host: 'anything.example' } })).status).toBe(200);
    } finally {
      await open.close();
    }
    await expect(harness({ allowedHosts: ['http://example.com'] })).rejects.toMatchObject({ code: 'InvalidOptions' });
  });
});

/** Sends a valid WebSocket handshake and resolves with the status of the answer (then drops the socket). */
async function rawUpgradeStatus(host: string): Promise<number> {
  const { connect } = await import('node:net');
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const s = connect({ host: u.hostname, port: Number(u.port) });
    s.once('data', (c: Buffer) => {
      resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(c.toString('latin1'))?.[1]));
      s.destroy();
    });
    s.on('error', reject);
    s.write(`GET /feed HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  });
}

describe('JSON-only bodies on mutating routes', () => {
  it('refuses POST /views/balances/rebuild sent as text/plain (a CORS simple request) with 415, starting nothing', async () => {
    const r = await post('/views/balances/rebuild', 'x', { 'content-type': 'text/plain' });
    expectError(r, 415, 'UnsupportedMediaType');
    expect((await request(url, { path: '/views/balances/rebuild' })).json()).toMatchObject({ state: 'idle' });
  });

  it('refuses reconcile?repair=true with no body and no content type with 415', async () => {
    const r = await request(url, { method: 'POST', path: '/views/balances/reconcile?repair=true' });
    expect(String(expectError(r, 415, 'UnsupportedMediaType').message)).toContain('application/json');
  });

  it.each([
    ['text/plain', '{"type":"Open","data":{"owner":"x"}}'],
    ['application/x-www-form-urlencoded', 'type=Open'],
    ['multipart/form-data; boundary=x', '--x\r\n\r\n--x--'],
  ])('refuses a command sent as %s with 415 (not 400 "body must be object")', async (type, body) => {
    expectError(await post('/aggregates/account/acc-simple/commands', body, { 'content-type': type }), 415, 'UnsupportedMediaType');
    expect(h.runtime.log.streamHead('account', 'acc-simple').version).toBe(0);
  });

  it('accepts a JSON content type with an empty body or {} on routes that take no body', async () => {
    expect((await request(url, { method: 'POST', path: '/views/balances/reconcile', headers: json })).status).toBe(200);
    expect((await post('/views/balances/reconcile?repair=true', {})).status).toBe(200);
    expect((await post('/views/balances/reconcile', '', { 'content-type': 'application/json; charset=utf-8' })).status).toBe(200);
  });

  it('still refuses an empty JSON body where a body is required (400 InvalidCommand)', async () => {
    expectError(await request(url, { method: 'POST', path: '/aggregates/account/acc-empty/commands', headers: json }), 400, 'InvalidCommand');
  });
});

describe('well-formed text', () => {
  it('refuses a lone surrogate in a command string with 400 InvalidCommand naming the field', async () => {
    const r = await post('/aggregates/account/acc-utf16/commands', '{"type":"Open","data":{"owner":"A\\udc00B"}}');
    const body = expectError(r, 400, 'InvalidCommand');
    expect(body.path).toBe('/data/owner');
    expect(String(body.message)).toContain('data/owner');
    expect(h.runtime.log.streamHead('account', 'acc-utf16').version).toBe(0);
  });

  it.each([
    ['a high surrogate at the end', '{"type":"Open","data":{"owner":"AB\\ud800"}}', '/data/owner'],
    ['a lone surrogate in a key', '{"type":"Open","data":{"owner":"x","\\udfff":1}}', '/data'],
    ['a lone surrogate deep in an array', '{"type":"Open","data":{"owner":"x","tags":["a",["\\udc00"]]}}', '/data/tags/1/0'],
  ])('refuses %s', async (_what, body, path) => {
    const answer = expectError(await post('/aggregates/account/acc-utf16/commands', body), 400, 'InvalidCommand');
    expect(answer.path).toBe(path);
    expect(String(answer.message)).toContain('not well-formed');
  });

  it('refuses one in a body nested 100 000 levels deep with 400, not a crash', async () => {
    const deep = `${'['.repeat(100_000)}"\\udc00"${']'.repeat(100_000)}`;
    const answer = expectError(await post('/aggregates/account/acc-utf16/commands', deep), 400, 'InvalidCommand');
    expect(answer.path).toBe(`${'/0'.repeat(100)}...`); // the start of the path, not 200 KB of it
  });

  it('accepts a well-formed surrogate pair, escaped or not, and stores it as sent', async () => {
    const r = await post('/aggregates/account/acc-emoji/commands', '{"type":"Open","data":{"owner":"A\\ud83d\\ude00 \u00e9\u{1F600}"}}');
    expect(r.status).toBe(200);
    expect((await h.runtime.load<{ owner: string }>('account', 'acc-emoji')).state.owner).toBe('A\u{1F600} \u00e9\u{1F600}');
  });
});

describe('one error shape everywhere', () => {
  it('answers oversized headers (Node 431) in the error shape', async () => {
    const r = await raw(url, `GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    expectError(r, 431, 'HeadersTooLarge');
    expect(r.headers['x-content-type-options']).toBe('nosniff');
  });

  it.each([
    ['a broken request line', 'GARBAGE\r\n\r\n'],
    ['a control character in the URL', 'GET /he\x01alth HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'],
    ['a bad header line', 'GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nno colon here\r\n\r\n'],
  ])('answers %s (Node 400) in the error shape', async (_what, text) => {
    expectError(await raw(url, text), 400, 'BadRequest');
  });

  it('answers a request that never ends (Node 408) in the error shape', async () => {
    const slow = await harness({
      serverFactory: (handler) => createServer({ requireHostHeader: false, headersTimeout: 300, requestTimeout: 600, connectionsCheckingInterval: 50 }, handler),
    });
    try {
      const u = await slow.listen();
      expectError(await raw(u, 'GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Partial: yes\r\n'), 408, 'RequestTimeout');
    } finally {
      await slow.close();
    }
  });

  it('answers a path segment over the length limit with 414 UriTooLong and a bad URL with 400 BadRequest', async () => {
    expectError(await request(url, { path: `/aggregates/account/${'x'.repeat(2000)}` }), 414, 'UriTooLong');
    expectError(await request(url, { path: '/aggregates/account/%zz' }), 400, 'BadRequest');
  });

  it.each(['/views/__proto__', '/views/__proto__/x', '/views/constructor', '/views/__proto__/rebuild'])('answers GET %s with 404 NotFound', async (path) => {
    expectError(await request(url, { path }), 404, 'NotFound');
  });

  it.each([
    ['Tue, 01 Dec 2026', 'from'],
    ['2026-02-30', 'from'],
    ['2026-12-01T10:00:00', 'from'], // no zone: would be read in the server's own zone
    ['yesterday', 'to'],
  ])('refuses the diff point %s with 400 InvalidQuery naming the field', async (point, field) => {
    const q = field === 'from' ? `from=${encodeURIComponent(point)}&to=1` : `from=0&to=${encodeURIComponent(point)}`;
    const body = expectError(await request(url, { path: `/aggregates/account/acc-public/diff?${q}` }), 400, 'InvalidQuery');
    expect(body.field).toBe(field);
  });

  it('accepts diff points as versions, ISO-8601 dates and times with a zone, and t:<ms>', async () => {
    for (const q of ['from=0&to=2', 'from=2026-01-01&to=t:' + Date.now(), `from=0&to=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`, 'from=0&to=2999-01-01T00:00:00%2B01:00']) {
      expect((await request(url, { path: `/aggregates/account/acc-public/diff?${q}` })).status).toBe(200);
    }
    expectError(await request(url, { path: `/aggregates/account/acc-public?at=${encodeURIComponent('Tue, 01 Dec 2026')}` }), 400, 'InvalidQuery');
  });

  it.each([
    ['DELETE', '/aggregates/account/acc-public', 'GET, HEAD'],
    ['PUT', '/views/balances/rebuild', 'GET, HEAD, POST'],
    ['GET', '/aggregates/account/acc-public/commands', 'POST'],
    ['GET', '/aggregates/spaceship/x/commands', 'POST'],
    ['POST', '/health', 'GET, HEAD'],
    ['OPTIONS', '/', 'GET, HEAD'],
  ])('answers %s %s with 405 MethodNotAllowed and Allow: %s', async (method, path, allow) => {
    const r = await request(url, { method, path, headers: json, body: method === 'GET' || method === 'OPTIONS' ? undefined : '{}' } as Parameters<typeof request>[1]);
    expectError(r, 405, 'MethodNotAllowed');
    expect(r.headers.allow).toBe(allow);
  });

  it('still answers 404 to a path no method has', async () => {
    expectError(await request(url, { method: 'DELETE', path: '/no/such/thing' }), 404, 'NotFound');
  });

  it.each([
    ['an unknown field', { type: 'Open', data: { owner: 'x', admin: true } }, '/data/admin'],
    ['a missing field', { type: 'Open', data: {} }, '/data/owner'],
    ['a wrong type', { type: 'Deposit', data: { amount: 1.5 } }, '/data/amount'],
    ['an unknown top-level field', { type: 'Deposit', data: { amount: 1 }, force: true }, '/force'],
  ])('names the offending field of a schema error (%s)', async (_what, command, path) => {
    const body = expectError(await post('/aggregates/account/acc-schema/commands', command), 400, 'InvalidCommand');
    expect(body.path).toBe(path);
    expect(String(body.message)).toContain(`body${path}`);
  });

  it('sends X-Content-Type-Options: nosniff with every answer', async () => {
    for (const r of [
      await request(url, { path: '/health' }),
      await request(url, { path: '/' }),
      await request(url, { path: '/nope' }),
      await post('/aggregates/account/acc-public/commands', 'x', { 'content-type': 'text/plain' }),
      await request(url, { path: '/health', headers: { host: 'evil.example' } }),
      await request(url, { path: '/aggregates/account/%zz' }),
    ]) {
      expect(r.headers['x-content-type-options']).toBe('nosniff');
    }
  });
});

describe('logging of client mistakes', () => {
  it('logs 4xx at info without a stack, and a 5xx at error with its stack', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const logged = await harness({
      logger: { level: 'info', stream: { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) } },
      plugins: [
        async (app) => {
          app.get('/boom', async () => {
            throw new Error('a bug');
          });
        },
      ],
    });
    try {
      const u = await logged.listen();
      for (let i = 0; i < 20; i++) {
        await request(u, { method: 'POST', path: '/views/nope/rebuild', headers: json });
        await request(u, { method: 'POST', path: '/views/balances/rebuild', headers: { 'content-type': 'text/plain' }, body: 'x' });
        await request(u, { path: '/health', headers: { host: 'evil.example' } });
      }
      await raw(u, 'GARBAGE\r\n\r\n');
      await request(u, { path: '/boom' });
      // The rebuild of an unknown view rejects after the answer: wait until its line is there too.
      await expect.poll(() => lines.filter((l) => l.code === 'NotFound').length).toBeGreaterThanOrEqual(40);
      const errors = lines.filter((l) => (l.level as number) >= 50);
      expect(errors).toHaveLength(1);
      expect(JSON.stringify(errors[0])).toContain('a bug');
      expect((errors[0]!.err as { stack?: string }).stack).toContain('Error: a bug');
      const clientMistakes = lines.filter((l) => typeof l.code === 'string' && (l.level as number) < 50);
      expect(clientMistakes.length).toBeGreaterThanOrEqual(80);
      for (const l of clientMistakes) {
        expect(l.level).toBe(30);
        expect(JSON.stringify(l)).not.toContain('    at ');
      }
      expect(clientMistakes.map((l) => l.code)).toEqual(expect.arrayContaining(['NotFound', 'UnsupportedMediaType', 'HostNotAllowed', 'BadRequest']));
    } finally {
      await logged.close();
    }
  });
});
