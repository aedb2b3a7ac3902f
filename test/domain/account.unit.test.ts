/**
 * The account decider, as given/when/then specifications: given past events, when a command, then the
 * new events or the typed domain error. Pure code: no runtime, no I/O.
 */
import { describe, expect, it } from 'vitest';
import { accountDecider, RuntimeError, type AccountEvent } from '../../src/index.js';
import { deciderSpec } from '../support/decider-spec.js';

const { given, when, rejection } = deciderSpec(accountDecider, 'acct-1');

const opened: AccountEvent = { type: 'AccountOpened', data: { owner: 'ann' } };
const deposited = (amount: number): AccountEvent => ({ type: 'Deposited', data: { amount } });
const withdrawn = (amount: number): AccountEvent => ({ type: 'Withdrawn', data: { amount } });

describe('account decider', () => {
  it('starts closed, ownerless and empty', () => {
    expect(accountDecider.initialState()).toEqual({ owner: null, balance: 0, open: false });
  });

  it('opens a new account for its owner', () => {
    expect(when(given([]), { type: 'Open', data: { owner: 'ann' } })).toEqual([opened]);
    expect(given([opened])).toEqual({ owner: 'ann', balance: 0, open: true });
  });

  it('refuses to open an account twice, as a conflict', () => {
    const err = rejection(given([opened]), { type: 'Open', data: { owner: 'bob' } });
    expect(err.code).toBe('AccountAlreadyOpen');
    expect(err.kind).toBe('conflict');
  });

  it('refuses deposits and withdrawals before the account is opened', () => {
    for (const command of [{ type: 'Deposit', data: { amount: 5 } }, { type: 'Withdraw', data: { amount: 5 } }] as const) {
      const err = rejection(given([]), command);
      expect(err.code).toBe('AccountNotOpen');
      expect(err.kind).toBe('conflict');
    }
  });

  it('records a deposit and adds it to the balance', () => {
    expect(when(given([opened]), { type: 'Deposit', data: { amount: 250 } })).toEqual([deposited(250)]);
    expect(given([opened, deposited(250), deposited(50)]).balance).toBe(300);
  });

  it('records a withdrawal that the balance covers, down to exactly zero', () => {
    const state = given([opened, deposited(100)]);
    expect(when(state, { type: 'Withdraw', data: { amount: 100 } })).toEqual([withdrawn(100)]);
    expect(given([opened, deposited(100), withdrawn(100)]).balance).toBe(0);
  });

  it('refuses an overdraft as a broken rule and says how much is there', () => {
    const err = rejection(given([opened, deposited(100)]), { type: 'Withdraw', data: { amount: 101 } });
    expect(err.code).toBe('InsufficientFunds');
    expect(err.kind).toBe('rule');
    expect(err.details).toEqual({ balance: 100, amount: 101 });
  });

  it('refuses a deposit that would push the balance past the largest exact integer', () => {
    const state = given([opened, deposited(Number.MAX_SAFE_INTEGER - 10)]);
    expect(when(state, { type: 'Deposit', data: { amount: 10 } })).toEqual([deposited(10)]);
    expect(rejection(state, { type: 'Deposit', data: { amount: 11 } }).code).toBe('BalanceOverflow');
  });

  it('reports its rejections as RuntimeErrors checked by code', () => {
    const err = rejection(given([]), { type: 'Deposit', data: { amount: 1 } });
    expect(RuntimeError.is(err, 'AccountNotOpen')).toBe(true);
    expect(err.toJSON()).toMatchObject({ code: 'AccountNotOpen', domain: 'conflict' });
  });

  it('never mutates the state it is given', () => {
    const state = Object.freeze(given([opened, deposited(10)]));
    expect(() => accountDecider.evolve(state, deposited(5))).not.toThrow();
    expect(state.balance).toBe(10);
  });

  it('declares a strict JSON schema for every command type it decides', () => {
    expect(Object.keys(accountDecider.commands).sort()).toEqual(['Deposit', 'Open', 'Withdraw']);
    for (const schema of Object.values(accountDecider.commands)) expect(schema).toMatchObject({ type: 'object', additionalProperties: false });
    expect(accountDecider.commands.Deposit).toMatchObject({ properties: { amount: { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER } } });
  });
});
