/** The one status table: every error code has an HTTP status and a line in docs/http-api.md. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DomainError, ErrorCodes, RuntimeError, errors } from '../../src/kernel/index.js';
import { ERROR_STATUS, errorReply, statusOfCode } from '../../src/server/index.js';

const docs = readFileSync(new URL('../../docs/http-api.md', import.meta.url), 'utf8');
const allCodes = Object.values(ErrorCodes);

describe('the error status table', () => {
  it.each(allCodes)('maps %s to a 4xx or 5xx status', (code) => {
    expect(Object.hasOwn(ERROR_STATUS, code)).toBe(true);
    expect(statusOfCode(code)).toBeGreaterThanOrEqual(400);
  });

  it.each(allCodes)('documents %s with its status in docs/http-api.md', (code) => {
    expect(docs).toMatch(new RegExp(`\\|\\s*\`${code}\`\\s*\\|\\s*${statusOfCode(code)}\\s*\\|`));
  });

  it('maps domain rejections by kind: conflict 409, rule 422', () => {
    expect(errorReply(new DomainError('AccountAlreadyOpen', 'open', 'conflict')).status).toBe(409);
    expect(errorReply(new DomainError('InsufficientFunds', 'no', 'rule', { balance: 1 }))).toMatchObject({
      status: 422,
      body: { error: 'InsufficientFunds', message: 'no', balance: 1 },
    });
  });

  it('spreads details into the body but never lets a detail replace the code or the message', () => {
    const r = errorReply(new RuntimeError(ErrorCodes.NotFound, 'real', { error: 'Fake', message: 'fake', head: 3 }));
    expect(r.body).toEqual({ error: 'NotFound', message: 'real', head: 3 });
  });

  it('sends Retry-After in whole seconds (at least 1) with every 503', () => {
    expect(errorReply(errors.overloaded('x', 2500)).headers['retry-after']).toBe('3');
    expect(errorReply(errors.overloaded('x', 10)).headers['retry-after']).toBe('1');
    expect(errorReply(errors.closed()).headers['retry-after']).toBe('1');
  });

  it('gives Overloaded one retry time: the Retry-After header in whole seconds and the same value in ms in the body', () => {
    for (const ms of [10, 100, 999, 1000, 2500]) {
      const r = errorReply(errors.overloaded('x', ms));
      expect(Number(r.headers['retry-after']) * 1000).toBe(r.body.retryAfterMs);
      expect(r.body.retryAfterMs).toBe(Math.max(1, Math.ceil(ms / 1000)) * 1000);
    }
  });

  it('never sends a stack trace or a source file path in a message, whatever the code', () => {
    const leaky = new RuntimeError(
      ErrorCodes.WorkerCrashed,
      'worker 0 exited: Error: boom at file:///srv/app/src/domain/x.ts:3:9\n    at decide (/srv/app/src/domain/x.ts:3:9)\n    at node:internal/x',
      {},
      true,
    );
    const body = JSON.stringify(errorReply(leaky).body);
    expect(body).not.toMatch(/\\n\s+at |x\.ts|file:\/\/|\/srv\/app/);
    expect(errorReply(leaky).body.message).toMatch(/^worker 0 exited: Error: boom at <source>/);
    // A data dir's mount point in a disk-full message is not a source path: it stays.
    expect(errorReply(new RuntimeError(ErrorCodes.StorageFailed, 'disk full (ENOSPC): 0 bytes free on /mnt/data')).body.message).toContain('/mnt/data');
  });

  it('answers an unknown code or a plain Error with a 500 that leaks nothing', () => {
    expect(errorReply(new RuntimeError('SomethingNew', 'x')).status).toBe(500);
    expect(errorReply(new Error('stack secrets'))).toMatchObject({ status: 500, body: { error: 'Internal', message: 'internal error' } });
  });
});
