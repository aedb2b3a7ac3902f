/**
 * The client's error mapping, through its public API with a stand-in `fetch`: every answer of the
 * server's one error table (src/server/error-status.ts) comes back as an `EventideClientError` with the
 * same code, status and retry time; what is not the server's answer (no connection, a timeout, an
 * abort, a proxy's page) gets a client code and status 0; and the codes are the catalogue's, as types.
 */
import { describe, expect, expectTypeOf, it } from 'vitest';
import { CLIENT_ERROR_CODES, EventideClientError, createClient, type EventideErrorCode, type FetchFunction, type ServerErrorCode } from '../../src/client/index.js';
import { DomainError, ErrorCodes, RuntimeError, type ErrorCode } from '../../src/kernel/index.js';
import { ERROR_STATUS, errorReply } from '../../src/server/index.js';
import { clientFailureOf as thrown } from '../support/errors.js';

/** A client whose fetch answers `status`, `headers` and `body` to everything, and records what it was asked. */
function answering(status: number, body: string, headers: Record<string, string> = { 'content-type': 'application/json' }) {
  const calls: Array<{ url: string; init: RequestInit | undefined }> = [];
  const fetch: FetchFunction = async (url, init) => {
    calls.push({ url, init });
    return new Response(body, { status, headers });
  };
  return { client: createClient({ baseUrl: 'http://eventide.test:3000/', fetch }), calls };
}

describe('answers of the server become EventideClientErrors with its code', () => {
  // Every catalogue code, answered by the server's own error table, read back by the client.
  it.each(Object.values(ErrorCodes))('maps %s with the status, message, details and retry time the server sent', async (code) => {
    const reply = errorReply(new RuntimeError(code, `because ${code}`, { retryAfterMs: 1500, extra: 7 }, code === 'Overloaded'));
    const { client } = answering(reply.status, JSON.stringify(reply.body), { 'content-type': 'application/json', ...reply.headers });
    const err = await thrown(client.load('account', 'a-1'));
    expect(err.code).toBe(code);
    expect(err.status).toBe(ERROR_STATUS[code]);
    expect(err.message).toBe(code === 'Internal' ? 'internal error' : `because ${code}`);
    expect(err.details).toMatchObject({ extra: 7 });
    expect(err.details).not.toHaveProperty('error');
    expect(err.details).not.toHaveProperty('message');
    // The server sends Retry-After with every 503 and 429: whole seconds, rounded up.
    expect(err.retryAfter).toBe(reply.status === 503 || reply.status === 429 ? 2 : undefined);
    expect(err.retriable).toBe(code === 'Overloaded' || reply.status === 429);
  });

  it.each([
    ['a domain rule (422)', new DomainError('InsufficientFunds', 'balance 5 < 9', 'rule', { balance: 5, amount: 9 }), 422],
    ['a domain conflict (409)', new DomainError('AccountAlreadyOpen', 'already open', 'conflict'), 409],
  ])('keeps the code a decider chose: %s', async (_what, error, status) => {
    const reply = errorReply(error);
    const { client } = answering(reply.status, JSON.stringify(reply.body));
    const err = await thrown(client.execute('account', 'a-1', { type: 'Withdraw', data: { amount: 9 } }));
    expect(err).toMatchObject({ code: error.code, status, message: error.message, details: error.details });
  });

  const table: Array<[string, number, Record<string, string>, string, Partial<EventideClientError>]> = [
    ['a 429 with retryAfter in the body and the header', 429, { 'retry-after': '3' }, '{"error":"RateLimited","message":"slow down","retryAfter":3}', { code: 'RateLimited', status: 429, retryAfter: 3, retriable: true }],
    ['retriable: true in the body', 503, { 'retry-after': '1' }, '{"error":"ViewLagging","message":"not yet","retriable":true}', { code: 'ViewLagging', retryAfter: 1, retriable: true }],
    ['retryAfterMs in the body and no header', 503, {}, '{"error":"Overloaded","message":"full","retryAfterMs":2500}', { code: 'Overloaded', retryAfter: 3 }],
    ['a Retry-After that is an HTTP date (not read)', 503, { 'retry-after': 'Tue, 01 Dec 2026 10:00:00 GMT' }, '{"error":"Unavailable","message":"stopping"}', { code: 'Unavailable', retryAfter: undefined }],
    ['a body with no error field', 500, {}, '{"message":"who knows"}', { code: 'InvalidResponse', status: 500 }],
    ["a proxy's HTML page", 502, { 'content-type': 'text/html' }, '<html>Bad Gateway</html>', { code: 'InvalidResponse', status: 502, retriable: true }],
    ['an empty body', 404, {}, '', { code: 'InvalidResponse', status: 404, retriable: false }],
    ['a JSON array', 400, {}, '[1,2]', { code: 'InvalidResponse', status: 400 }],
  ];
  it.each(table)('reads %s', async (_what, status, headers, body, expected) => {
    const { client } = answering(status, body, headers);
    expect(await thrown(client.health())).toMatchObject(expected);
  });

  it('answers a 2xx whose body is not JSON with InvalidResponse', async () => {
    const { client } = answering(200, 'OK', { 'content-type': 'text/plain' });
    expect(await thrown(client.partitions())).toMatchObject({ code: 'InvalidResponse', status: 200 });
  });
});

describe('failures with no answer: client codes, status 0', () => {
  it('says NetworkError (retriable) when fetch fails, with the reason', async () => {
    const fetch: FetchFunction = () => Promise.reject(Object.assign(new TypeError('fetch failed'), { cause: new Error('connect ECONNREFUSED 127.0.0.1:1') }));
    const err = await thrown(createClient({ baseUrl: 'http://127.0.0.1:1', fetch }).health());
    expect(err).toMatchObject({ code: 'NetworkError', status: 0, retriable: true });
    expect(err.message).toContain('ECONNREFUSED');
  });

  /** A fetch that never answers, but stops when its signal fires, as a real one does. */
  const hanging: FetchFunction = (_url, init) =>
    new Promise((_resolve, reject) => init?.signal?.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError'))));

  it('says Timeout when the deadline passes first (the client default or the call own)', async () => {
    const client = createClient({ baseUrl: 'http://eventide.test', fetch: hanging, timeoutMs: 20 });
    expect(await thrown(client.health())).toMatchObject({ code: 'Timeout', status: 0, retriable: true, details: { timeoutMs: 20 } });
    expect(await thrown(client.health({ timeoutMs: 5 }))).toMatchObject({ code: 'Timeout', details: { timeoutMs: 5 } });
  });

  it("says Aborted when the caller's signal fires, and does not call fetch for a signal already aborted", async () => {
    let calls = 0;
    const client = createClient({ baseUrl: 'http://eventide.test', fetch: (u, i) => (calls++, hanging(u, i)), timeoutMs: 0 });
    const controller = new AbortController();
    const pending = thrown(client.load('account', 'a', { signal: controller.signal }));
    controller.abort(new Error('user left'));
    expect(await pending).toMatchObject({ code: 'Aborted', status: 0, retriable: false });
    expect(await thrown(client.load('account', 'a', { signal: controller.signal }))).toMatchObject({ code: 'Aborted' });
    expect(calls).toBe(1);
  });

  it('refuses a base URL that is not http(s) with InvalidOptions', () => {
    expect(() => createClient({ baseUrl: 'localhost:3000' })).toThrow(expect.objectContaining({ code: 'InvalidOptions', status: 0 }));
  });
});

describe('what the client sends', () => {
  it('sends JSON with the content type every mutating route requires, the token, and encoded ids', async () => {
    const { client, calls } = answering(200, '{"id":"a b","type":"account","version":1,"events":[],"state":null}');
    const token = 'tok-123456789abcdef';
    const withToken = createClient({ baseUrl: 'http://eventide.test:3000/', token, fetch: (u, i) => ((calls.push({ url: u, init: i }), Promise.resolve(new Response('{}')))) });
    await client.execute('account', 'a b', { type: 'Deposit', data: { amount: 1 } }, { commandId: 'c-1', expectedVersion: 0 });
    await withToken.views.rebuild('balances');
    const [command, rebuild] = calls;
    expect(command!.url).toBe('http://eventide.test:3000/aggregates/account/a%20b/commands');
    expect(command!.init).toMatchObject({ method: 'POST', headers: { 'content-type': 'application/json' } });
    expect(JSON.parse(command!.init!.body as string)).toEqual({ type: 'Deposit', data: { amount: 1 }, expectedVersion: 0, commandId: 'c-1' });
    expect(rebuild!.init).toMatchObject({ method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` } });
    expect(rebuild!.init!.body).toBeUndefined();
  });

  it('writes time points as the server reads them: epoch ms digits, ISO-8601, t:<ms> in a diff', async () => {
    const { client, calls } = answering(200, '{}');
    const at = new Date(Date.UTC(2026, 11, 1, 10, 0, 0));
    await client.load('account', 'a', { at });
    await client.load('account', 'a', { at: at.getTime() });
    await client.diff('account', 'a', 0, { at: at.getTime() });
    await client.diff('account', 'a', at, '2026-12-01T11:00:00Z');
    expect(calls.map((c) => new URL(c.url).search)).toEqual([
      '?at=2026-12-01T10%3A00%3A00.000Z',
      `?at=${at.getTime()}`,
      `?from=0&to=t%3A${at.getTime()}`,
      '?from=2026-12-01T10%3A00%3A00.000Z&to=2026-12-01T11%3A00%3A00Z',
    ]);
  });
});

describe('the error codes', () => {
  it('types the server codes as the catalogue itself', () => {
    expectTypeOf<ServerErrorCode>().toEqualTypeOf<ErrorCode>();
    expectTypeOf<ErrorCode>().toMatchTypeOf<EventideErrorCode>();
    expectTypeOf<EventideClientError<'VersionConflict'>['code']>().toEqualTypeOf<'VersionConflict'>();
  });

  it('keeps the client codes apart from every catalogue code', () => {
    const clash = Object.values(CLIENT_ERROR_CODES).filter((c) => Object.hasOwn(ErrorCodes, c));
    expect(clash).toEqual([]);
  });

  it('recognises an EventideClientError by its shape (another copy of the class too), not a RuntimeError or a plain Error', () => {
    const own = new EventideClientError({ code: 'VersionConflict', status: 409, message: 'no', details: { expected: 1, actual: 2 } });
    const copy = Object.assign(new Error('no'), { name: 'EventideClientError', code: 'VersionConflict', status: 409 });
    expect(EventideClientError.is(own, 'VersionConflict')).toBe(true);
    expect(EventideClientError.is(copy, 'VersionConflict')).toBe(true);
    expect(EventideClientError.is(own, 'NotFound')).toBe(false);
    expect(EventideClientError.is(new RuntimeError('VersionConflict', 'no'))).toBe(false);
    expect(EventideClientError.is(new Error('x'))).toBe(false);
    expect(JSON.parse(JSON.stringify(own))).toEqual({ name: 'EventideClientError', code: 'VersionConflict', status: 409, message: 'no', details: { expected: 1, actual: 2 }, retriable: false });
  });
});
