/**
 * The account decider after its `Deposited` event evolved: version 1 was `{ amount }` (what the built-in
 * account decider still writes), version 2 is `{ amount, currency }`, and the upcaster reads every old
 * deposit as euros. The state keeps one balance per currency, a new shape, so `snapshotVersion` is 2:
 * snapshots of the built-in decider's state (`{ owner, balance, open }`) must be ignored and rebuilt.
 * `Withdrawn` keeps its first shape (always euros): versions are per event type.
 */
import { DomainError } from '../../src/kernel/index.js';
import { accountDecider, type Command, type Decider, type DomainEvent } from '../../src/domain/index.js';

export type Currency = 'EUR' | 'USD';

export interface CurrencyAccountState {
  owner: string | null;
  open: boolean;
  balances: Partial<Record<Currency, number>>;
}

export type CurrencyAccountCommand =
  | Command<'Open', { owner: string }>
  | Command<'Deposit', { amount: number; currency?: Currency }>
  | Command<'Withdraw', { amount: number }>
  /** Two events of two types in one command (only one of them versioned). */
  | Command<'OpenWithDeposit', { owner: string; amount: number; currency?: Currency }>;

export type CurrencyAccountEvent =
  | DomainEvent<'AccountOpened', { owner: string }>
  | DomainEvent<'Deposited', { amount: number; currency: Currency }>
  | DomainEvent<'Withdrawn', { amount: number }>;

const amount = { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER };

export const accountCurrencyDecider: Decider<CurrencyAccountState, CurrencyAccountCommand, CurrencyAccountEvent> = {
  type: 'account',
  snapshotVersion: 2,
  publicCommands: ['Open', 'Deposit', 'Withdraw', 'OpenWithDeposit'],
  // The built-in account's owner is personal data: a later decider of the type keeps declaring it.
  personalData: { subject: '$id', events: { AccountOpened: ['owner'] } },
  commands: {
    Open: accountDecider.commands.Open,
    Deposit: { type: 'object', required: ['amount'], additionalProperties: false, properties: { amount, currency: { enum: ['EUR', 'USD'] } } },
    Withdraw: accountDecider.commands.Withdraw,
    OpenWithDeposit: {
      type: 'object',
      required: ['owner', 'amount'],
      additionalProperties: false,
      properties: { owner: { type: 'string', minLength: 1, maxLength: 200 }, amount, currency: { enum: ['EUR', 'USD'] } },
    },
  },
  events: {
    Deposited: { version: 2, upcast: { 1: (data: { amount: number }) => ({ amount: data.amount, currency: 'EUR' }) } },
  },
  initialState: () => ({ owner: null, open: false, balances: {} }),
  decide(command, state) {
    switch (command.type) {
      case 'Open':
        if (state.open) throw new DomainError('AccountAlreadyOpen', 'the account is already open', 'conflict');
        return [{ type: 'AccountOpened', data: { owner: command.data.owner } }];
      case 'Deposit':
        if (!state.open) throw new DomainError('AccountNotOpen', 'the account is not open', 'conflict');
        return [{ type: 'Deposited', data: { amount: command.data.amount, currency: command.data.currency ?? 'EUR' } }];
      case 'Withdraw':
        if (!state.open) throw new DomainError('AccountNotOpen', 'the account is not open', 'conflict');
        if (command.data.amount > (state.balances.EUR ?? 0)) throw new DomainError('InsufficientFunds', 'not enough euros', 'rule');
        return [{ type: 'Withdrawn', data: { amount: command.data.amount } }];
      case 'OpenWithDeposit':
        if (state.open) throw new DomainError('AccountAlreadyOpen', 'the account is already open', 'conflict');
        return [
          { type: 'AccountOpened', data: { owner: command.data.owner } },
          { type: 'Deposited', data: { amount: command.data.amount, currency: command.data.currency ?? 'EUR' } },
        ];
    }
  },
  evolve(state, event) {
    switch (event.type) {
      case 'AccountOpened':
        return { owner: event.data.owner, open: true, balances: {} };
      case 'Deposited': {
        // A version-1 deposit reaching evolve without its currency would show here as an `undefined` balance.
        const { amount, currency } = event.data;
        return { ...state, balances: { ...state.balances, [currency]: (state.balances[currency] ?? 0) + amount } };
      }
      case 'Withdrawn':
        return { ...state, balances: { ...state.balances, EUR: (state.balances.EUR ?? 0) - event.data.amount } };
    }
  },
};

export const accountCurrencyDomain = new URL('./account-currency-domain.ts', import.meta.url);

export default accountCurrencyDecider;
