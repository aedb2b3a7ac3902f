/**
 * Idempotency keys over HTTP: the same `commandId` with the same command is a retry (200, duplicate),
 * with a different command a 409 `IdempotencyKeyReused` that writes nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { command, harness, type Harness } from './helpers.js';

let h: Harness;
beforeAll(async () => {
  h = await harness();
});
afterAll(async () => {
  await h?.close();
});

describe('a commandId sent twice', () => {
  it('answers a true retry with the first result and a different command with 409 IdempotencyKeyReused', async () => {
    expect((await command(h.app, 'account', 'idem', { type: 'Open', data: { owner: 'Ada' } })).status).toBe(200);
    const first = await command(h.app, 'account', 'idem', { type: 'Deposit', data: { amount: 10 }, commandId: 'pay-1' });
    expect(first.status).toBe(200);
    const retry = await command(h.app, 'account', 'idem', { type: 'Deposit', data: { amount: 10 }, commandId: 'pay-1' });
    expect(retry).toMatchObject({ status: 200, body: { version: 2, duplicate: true } });
    const reused = await command(h.app, 'account', 'idem', { type: 'Deposit', data: { amount: 99 }, commandId: 'pay-1' });
    expect(reused.status).toBe(409);
    expect(reused.body).toMatchObject({ error: 'IdempotencyKeyReused', commandId: 'pay-1' });
    expect(String(reused.body.message)).toMatch(/different command/);
    const state = await h.app.inject({ method: 'GET', url: '/aggregates/account/idem' });
    expect(state.json()).toMatchObject({ version: 2, state: { balance: 10 } });
  });
});
