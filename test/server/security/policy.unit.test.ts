/** Scopes, the route table, tokens and the rate limiter, as pure functions (a fake clock, no sleeping). */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { RateLimiter } from '../../../src/server/security/rate-limiter.js';
import { grants, parseScope, requiredAccess, type Scope } from '../../../src/server/security/scopes.js';
import { TokenRegistry, parseTokensEnv } from '../../../src/server/security/tokens.js';
import { assertSafeBind, isLoopbackHost } from '../../../src/server/security/index.js';
import { bearerToken, selectFeedProtocol } from '../../../src/server/security/feed-protocol.js';

const scopes = (...s: string[]): Scope[] => s.map((x) => parseScope(x)!);
const access = (method: string, route: string | undefined, params: object = {}, query: object = {}) => requiredAccess({ method, route, params, query });

describe('scopes', () => {
  it.each([
    // held, needed, granted
    [['admin'], 'admin', true],
    [['admin'], 'write:account', true],
    [['write'], 'read', true],
    [['write'], 'write:account', true],
    [['write'], 'admin', false],
    [['read'], 'write:account', false],
    [['write:account'], 'write:account', true],
    [['write:account'], 'read:account', true],
    [['write:account'], 'write:video', false],
    [['write:account'], 'read', false],
    [['read:video'], 'read:video', true],
    [['read:video'], 'read', false],
    [['read:video', 'write:account'], 'write:account', true],
  ] as const)('%j grants %s: %s', (held, need, granted) => {
    expect(grants(scopes(...held), parseScope(need)!)).toBe(granted);
  });

  it('refuses scopes outside the grammar', () => {
    for (const bad of ['', 'root', 'admin:account', 'read:', 'write:1x', 'read:a b', 'READ']) expect(parseScope(bad)).toBeUndefined();
  });
});

describe('the route table', () => {
  it('needs nothing for /health and the dashboard files', () => {
    for (const r of ['/', '/dashboard/:file', '/dashboard/vendor/:file', '/health']) expect(access('GET', r)).toBe('public');
    // Only reads of them: another method on those patterns is a route nobody made, closed by default.
    expect(access('POST', '/dashboard/:file')).toEqual({ level: 'admin' });
    expect(access('HEAD', '/health')).toBe('public');
  });

  it('needs write of the aggregate type for a command, and read of it to look', () => {
    expect(access('POST', '/aggregates/account/:id/commands', { id: 'a' })).toEqual({ level: 'write', type: 'account' });
    expect(access('GET', '/aggregates/account/:id', { id: 'a' })).toEqual({ level: 'read', type: 'account' });
    expect(access('GET', '/aggregates/account/:id/diff', { id: 'a' })).toEqual({ level: 'read', type: 'account' });
    expect(access('POST', '/aggregates/account/:id', { id: 'a' })).toEqual({ level: 'admin' });
    expect(access('POST', '/aggregates/:type/:id/commands', { type: 'account', id: 'a' })).toEqual({ level: 'write', type: 'account' });
    expect(access('GET', '/aggregates/:type/:id/events', { type: 'account', id: 'a' })).toEqual({ level: 'read', type: 'account' });
    expect(access('POST', '/videos')).toEqual({ level: 'write', type: 'video' });
    expect(access('POST', '/videos/:id/cancel', { id: 'v' })).toEqual({ level: 'write', type: 'video' });
    expect(access('HEAD', '/videos/:id/renditions/:height')).toEqual({ level: 'read', type: 'video' });
  });

  it('needs admin for rebuild and reconcile, and for any mutating route it does not know', () => {
    expect(access('POST', '/views/:name/rebuild', { name: 'balances' })).toEqual({ level: 'admin' });
    expect(access('POST', '/views/:name/reconcile', { name: 'balances' })).toEqual({ level: 'admin' });
    expect(access('POST', '/backup')).toEqual({ level: 'admin' });
    expect(access('DELETE', undefined)).toEqual({ level: 'admin' });
  });

  it('needs untyped read for what spans types, and read of the type for a filtered feed', () => {
    for (const r of ['/partitions', '/metrics', '/views/:name', '/views/:name/rebuild', undefined]) expect(access('GET', r)).toEqual({ level: 'read' });
    expect(access('GET', '/feed', {}, { type: 'video' })).toEqual({ level: 'read', type: 'video' });
    expect(access('GET', '/feed', {}, { stream: 'acc-1' })).toEqual({ level: 'read' });
  });
});

describe('tokens', () => {
  const token = 'tok-0123456789abcdef';
  const digest = createHash('sha256').update(token).digest('hex');

  it('finds a token by its plain text or by its SHA-256, and nothing else', () => {
    const r = new TokenRegistry([
      { name: 'plain', token, scopes: ['read'] },
      { name: 'hashed', sha256: createHash('sha256').update('other-token-0123456').digest('hex'), scopes: ['admin'] },
    ]);
    expect(r.verify(token)).toMatchObject({ name: 'plain', scopes: [{ level: 'read' }] });
    expect(r.verify('other-token-0123456')?.name).toBe('hashed');
    expect(r.verify('other-token-012345')).toBeUndefined();
    expect(r.verify('')).toBeUndefined();
  });

  it.each([
    [[{ name: 'a', token: 'short', scopes: ['read'] }], /16 to 512/],
    [[{ name: 'a', token: 'has/slash/0123456789', scopes: ['read'] }], /16 to 512/],
    [[{ name: 'a', token, sha256: digest, scopes: ['read'] }], /exactly one/],
    [[{ name: 'a', sha256: 'ABC', scopes: ['read'] }], /64 lowercase hex/],
    [[{ name: 'a', token, scopes: [] }], /non-empty/],
    [[{ name: 'a', token, scopes: ['root'] }], /unknown scope "root"/],
    [[{ name: 'a b', token, scopes: ['read'] }], /name must match/],
    [[{ name: 'a', token, scopes: ['read'] }, { name: 'a', token: `${token}x`, scopes: ['read'] }], /used twice/],
    [[{ name: 'a', token, scopes: ['read'] }, { name: 'b', sha256: digest, scopes: ['read'] }], /configured twice/],
  ])('refuses a bad configuration: %j', (configs, message) => {
    expect(() => new TokenRegistry(configs as never)).toThrow(message);
  });

  it('never puts a token into a configuration error', () => {
    expect(() => new TokenRegistry([{ name: 'a', token: 'secret-but/invalid-0123', scopes: ['read'] }])).toThrow(expect.objectContaining({ message: expect.not.stringContaining('secret') }));
  });

  it('reads EVENTIDE_TOKENS entries, with typed scopes and sha256= digests', () => {
    expect(parseTokensEnv(`ci:${token}:write:account,read; ops:sha256=${digest}:admin;`)).toEqual([
      { name: 'ci', token, scopes: ['write:account', 'read'] },
      { name: 'ops', sha256: digest, scopes: ['admin'] },
    ]);
    expect(() => parseTokensEnv('just-a-name')).toThrow(/name:token:scope1,scope2/);
  });
});

describe('where a token comes from', () => {
  it('reads the Authorization header, and the subprotocol pair only on a WebSocket handshake', () => {
    expect(bearerToken({ authorization: 'Bearer abc' })).toBe('abc');
    expect(bearerToken({ authorization: 'bearer   abc' })).toBe('abc');
    expect(bearerToken({ authorization: 'Basic abc' })).toBe('');
    expect(bearerToken({})).toBeUndefined();
    expect(bearerToken({ upgrade: 'websocket', 'sec-websocket-protocol': 'eventide.bearer, tok-1' })).toBe('tok-1');
    expect(bearerToken({ 'sec-websocket-protocol': 'eventide.bearer, tok-1' })).toBeUndefined();
    expect(bearerToken({ upgrade: 'websocket', 'sec-websocket-protocol': 'chat' })).toBeUndefined();
  });

  it('answers the eventide.bearer subprotocol, never the token', () => {
    expect(selectFeedProtocol(new Set(['eventide.bearer', 'tok-1']))).toBe('eventide.bearer');
    expect(selectFeedProtocol(new Set(['tok-1']))).toBe(false);
  });
});

describe('protected mode at start-up', () => {
  it('lets loopback hosts through, and others only with tokens or when told', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]']) expect(isLoopbackHost(h)).toBe(true);
    for (const h of ['0.0.0.0', '::', '192.0.2.2', 'example.com', '127.0.0.1.example.com']) expect(isLoopbackHost(h)).toBe(false);
    expect(() => assertSafeBind('0.0.0.0', {})).toThrow(/refusing to listen on 0\.0\.0\.0 without authentication.*ALLOW_UNAUTHENTICATED=1/);
    expect(() => assertSafeBind('0.0.0.0', { allowUnauthenticated: true })).not.toThrow();
    expect(() => assertSafeBind('0.0.0.0', { tokens: [{ name: 'a', token: 'x'.repeat(16), scopes: ['read'] }] })).not.toThrow();
    expect(() => assertSafeBind('127.0.0.1', {})).not.toThrow();
  });
});

describe('the rate limiter', () => {
  const clock = () => {
    let t = 0;
    return { now: () => t, advance: (ms: number) => (t += ms) };
  };

  it('lets a burst through, then one request per 1/rate seconds, and says when to retry', () => {
    const c = clock();
    const l = new RateLimiter({ perSecond: 2, burst: 3 }, c.now);
    for (let i = 0; i < 3; i++) expect(l.take('a')).toEqual({ ok: true });
    expect(l.take('a')).toEqual({ ok: false, retryAfterMs: 500 });
    c.advance(250);
    expect(l.take('a')).toEqual({ ok: false, retryAfterMs: 250 });
    c.advance(250);
    expect(l.take('a')).toEqual({ ok: true });
    expect(l.take('a').ok).toBe(false);
  });

  it('keeps clients apart', () => {
    const l = new RateLimiter({ perSecond: 1, burst: 1 }, clock().now);
    expect(l.take('a').ok).toBe(true);
    expect(l.take('a').ok).toBe(false);
    expect(l.take('b').ok).toBe(true);
  });

  it('never refills past the burst', () => {
    const c = clock();
    const l = new RateLimiter({ perSecond: 100, burst: 2 }, c.now);
    l.take('a');
    c.advance(60_000);
    expect([l.take('a').ok, l.take('a').ok, l.take('a').ok]).toEqual([true, true, false]);
  });

  it('remembers at most maxClients, forgetting the least recently seen', () => {
    const l = new RateLimiter({ perSecond: 1, burst: 1, maxClients: 3 }, clock().now);
    for (const k of ['a', 'b', 'c']) l.take(k);
    l.take('a'); // a is now the most recent
    l.take('d'); // evicts b
    expect(l.size).toBe(3);
    expect(l.take('a').ok).toBe(false); // still remembered: empty
    expect(l.take('c').ok).toBe(false);
    expect(l.take('b').ok).toBe(true); // forgotten: starts full again (and evicts d)
  });
});
