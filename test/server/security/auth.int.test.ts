/**
 * Tokens and scopes over real sockets: every route asks for the right scope, 401 and 403 come in the
 * error shape, the feed's handshake takes a token in the header or as a subprotocol, rate limits answer
 * 429 with the same Retry-After in header and body, and protected mode serves loopback clients only.
 */
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { harness, type Harness } from '../helpers.js';
import { externalIPv4, handshake, http } from './clients.js';

const T = {
  admin: 'admin-token-0123456789',
  reader: 'reader-token-0123456789',
  accounts: 'accounts-token-0123456789',
  videoReader: 'video-reader-token-012345',
};
const tokens = [
  { name: 'ops', token: T.admin, scopes: ['admin'] },
  { name: 'dash', token: T.reader, scopes: ['read'] },
  { name: 'bank', token: T.accounts, scopes: ['write:account'] },
  { name: 'player', token: T.videoReader, scopes: ['read:video'] },
];
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const json = { 'content-type': 'application/json' };

describe('with tokens configured', () => {
  let h: Harness;
  const logLines: string[] = [];

  beforeAll(async () => {
    const stream = new Writable({ write: (chunk: Buffer, _e, done) => (logLines.push(String(chunk)), done()) });
    h = await harness({ security: { tokens, rateLimit: false }, logger: { level: 'debug', stream } });
    await h.listen();
  });
  afterAll(() => h?.close());

  it('answers 401 with WWW-Authenticate and the error shape when the token is missing or unknown', async () => {
    const missing = await http(`${h.url}/partitions`);
    expect(missing.status).toBe(401);
    expect(missing.headers['www-authenticate']).toBe('Bearer realm="eventide"');
    expect(missing.json()).toEqual({ error: 'Unauthorized', message: expect.stringContaining('bearer token'), reason: 'missing_token' });

    const wrong = await http(`${h.url}/partitions`, { headers: bearer('not-a-real-token-000000') });
    expect(wrong.status).toBe(401);
    expect(wrong.headers['www-authenticate']).toBe('Bearer realm="eventide", error="invalid_token"');
    expect(wrong.json()).toMatchObject({ error: 'Unauthorized', reason: 'invalid_token' });

    expect((await http(`${h.url}/partitions`, { headers: { authorization: `Basic ${T.admin}` } })).status).toBe(401);
    // An unknown route says 401, not 404: without a token nobody learns which routes exist.
    expect((await http(`${h.url}/no/such/route`)).status).toBe(401);
    expect((await http(`${h.url}/no/such/route`, { headers: bearer(T.reader) })).status).toBe(404);
  });

  it('serves /health and the dashboard files without a token', async () => {
    expect((await http(`${h.url}/health`)).status).toBe(200);
    expect((await http(`${h.url}/`)).status).toBe(200);
    expect((await http(`${h.url}/dashboard/app.js`)).status).toBe(200);
  });

  it('answers 403 naming the scope when a valid token lacks it', async () => {
    const open = JSON.stringify({ type: 'Open', data: { owner: 'Ada' } });
    const denied = await http(`${h.url}/aggregates/account/acc-1/commands`, { method: 'POST', headers: { ...json, ...bearer(T.reader) }, body: open });
    expect(denied.status).toBe(403);
    expect(denied.json()).toEqual({ error: 'Forbidden', message: 'token "dash" lacks the scope write:account', required: 'write:account' });
    await expect(h.runtime.load('account', 'acc-1')).rejects.toMatchObject({ code: 'StreamNotFound' });

    const ok = await http(`${h.url}/aggregates/account/acc-1/commands`, { method: 'POST', headers: { ...json, ...bearer(T.accounts) }, body: open });
    expect(ok.status).toBe(200);
    // write:account may read accounts, but not write videos or read across types.
    expect((await http(`${h.url}/aggregates/account/acc-1`, { headers: bearer(T.accounts) })).status).toBe(200);
    expect((await http(`${h.url}/aggregates/video/v-1/commands`, { method: 'POST', headers: { ...json, ...bearer(T.accounts) }, body: '{"type":"Cancel"}' })).status).toBe(403);
    expect((await http(`${h.url}/views/balances`, { headers: bearer(T.accounts) })).status).toBe(403);
    expect((await http(`${h.url}/views/balances`, { headers: bearer(T.reader) })).status).toBe(200);
    expect((await http(`${h.url}/metrics`, { headers: bearer(T.reader) })).status).toBe(200);
  });

  it('keeps rebuild and reconcile for admin', async () => {
    // JSON bodies: the edge refuses a mutating request without one (415) before any token is looked at.
    const post = (token: string) => ({ method: 'POST', headers: { ...bearer(token), 'content-type': 'application/json' }, body: '{}' });
    for (const token of [T.reader, T.accounts]) {
      expect((await http(`${h.url}/views/balances/rebuild`, post(token))).json()).toMatchObject({ error: 'Forbidden', required: 'admin' });
      expect((await http(`${h.url}/views/balances/reconcile`, post(token))).status).toBe(403);
    }
    expect((await http(`${h.url}/views/balances/reconcile`, post(T.admin))).status).toBe(200);
    expect((await http(`${h.url}/views/balances/rebuild`, post(T.admin))).status).toBe(202);
  });

  it('checks the feed handshake: header or subprotocol, and the scope of the type', async () => {
    const ws = h.url.replace(/^http/, 'ws');
    const none = await handshake(`${ws}/feed`);
    expect(none).toMatchObject({ ok: false, status: 401, body: { error: 'Unauthorized' } });
    expect(await handshake(`${ws}/feed`, ['eventide.bearer', 'wrong-token-0000000000'])).toMatchObject({ ok: false, status: 401 });

    const byHeader = await handshake(`${ws}/feed`, [], { headers: bearer(T.reader) });
    expect(byHeader).toMatchObject({ ok: true, first: { kind: 'hello' } });
    if (byHeader.ok) byHeader.socket.close();

    const byProtocol = await handshake(`${ws}/feed?type=video`, ['eventide.bearer', T.videoReader]);
    expect(byProtocol).toMatchObject({ ok: true, first: { kind: 'hello' } });
    if (byProtocol.ok) {
      expect(byProtocol.socket.protocol).toBe('eventide.bearer');
      byProtocol.socket.close();
    }
    // read:video may follow videos, not the whole feed nor accounts.
    expect(await handshake(`${ws}/feed`, ['eventide.bearer', T.videoReader])).toMatchObject({ ok: false, status: 403, body: { required: 'read' } });
    expect(await handshake(`${ws}/feed?type=account`, ['eventide.bearer', T.videoReader])).toMatchObject({ ok: false, status: 403, body: { required: 'read:account' } });
  });

  it('never writes a token into the log', () => {
    expect(logLines.length).toBeGreaterThan(10);
    const all = logLines.join('');
    for (const token of Object.values(T)) expect(all).not.toContain(token);
    expect(all).not.toContain('wrong-token-0000000000');
  });
});

describe('rate limits', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await harness({ security: { tokens, rateLimit: { perSecond: 0.01, burst: 3, exemptLoopback: false } } });
    await h.listen();
  });
  afterAll(() => h?.close());

  it('answers 429 RateLimited past the burst, with the same Retry-After in header and body, per client', async () => {
    for (let i = 0; i < 3; i++) expect((await http(`${h.url}/partitions`, { headers: bearer(T.reader) })).status).toBe(200);
    const limited = await http(`${h.url}/partitions`, { headers: bearer(T.reader) });
    expect(limited.status).toBe(429);
    const body = limited.json();
    expect(body).toMatchObject({ error: 'RateLimited', message: expect.stringContaining('too many requests') });
    expect(typeof body.retryAfter).toBe('number');
    expect(body.retryAfter).toBeGreaterThanOrEqual(1);
    expect(limited.headers['retry-after']).toBe(String(body.retryAfter));
    // Another token is another client.
    expect((await http(`${h.url}/partitions`, { headers: bearer(T.admin) })).status).toBe(200);
  });

  it('charges wrong tokens to the address, so guessing is limited too', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await http(`${h.url}/partitions`, { headers: bearer(`guess-${i}-0000000000000`) })).status);
    expect(statuses).toEqual([401, 401, 401, 429]);
  });
});

describe('protected mode (no tokens)', () => {
  const external = externalIPv4();

  async function serverOnAllInterfaces(allowUnauthenticated: boolean): Promise<{ h: Harness; port: number }> {
    const h = await harness({ security: { allowUnauthenticated } });
    await h.app.listen({ port: 0, host: '0.0.0.0' });
    const a = h.app.server.address();
    if (typeof a !== 'object' || a === null) throw new Error('no address');
    return { h, port: a.port };
  }

  it('serves loopback clients and refuses others with 403, unless allowUnauthenticated', async () => {
    const closed = await serverOnAllInterfaces(false);
    try {
      expect((await http(`http://127.0.0.1:${closed.port}/partitions`)).status).toBe(200);
      const refused = await http(`http://${external}:${closed.port}/partitions`, { localAddress: external });
      expect(refused.status).toBe(403);
      expect(refused.json()).toMatchObject({ error: 'Forbidden', message: expect.stringContaining('protected mode') });
    } finally {
      await closed.h.close();
    }
    const open = await serverOnAllInterfaces(true);
    try {
      expect((await http(`http://${external}:${open.port}/partitions`, { localAddress: external })).status).toBe(200);
    } finally {
      await open.h.close();
    }
  });
});
