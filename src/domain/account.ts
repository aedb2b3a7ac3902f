/**
 * The bank account: open it, deposit, withdraw; no overdraft. Amounts are minor units (cents) as
 * positive safe integers, so balances are exact.
 */
import { DomainError } from '../kernel/index.js';
import { unreachable, type Command, type Decider, type DomainEvent } from './types.js';

export interface AccountState {
  /** The holder's name: personal data (`personalData` below); null once the account's subject is forgotten. */
  owner: string | null;
  balance: number;
  open: boolean;
}

export type AccountCommand =
  | Command<'Open', { owner: string }>
  | Command<'Deposit', { amount: number }>
  | Command<'Withdraw', { amount: number }>;

export type AccountEvent =
  /** `owner` reads as null once the account's subject was forgotten (`runtime.forget(id)`). */
  | DomainEvent<'AccountOpened', { owner: string | null }>
  | DomainEvent<'Deposited', { amount: number }>
  | DomainEvent<'Withdrawn', { amount: number }>;

const amount = { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER };

export const accountDecider: Decider<AccountState, AccountCommand, AccountEvent> = {
  type: 'account',
  snapshotVersion: 1,
  // Every account command is a client's request.
  publicCommands: ['Open', 'Deposit', 'Withdraw'],
  // The holder's name is theirs: stored sealed with the account's key, redacted once it is forgotten.
  personalData: { subject: '$id', events: { AccountOpened: ['owner'] } },
  commands: {
    Open: {
      type: 'object',
      required: ['owner'],
      additionalProperties: false,
      properties: { owner: { type: 'string', minLength: 1, maxLength: 200 } },
    },
    Deposit: { type: 'object', required: ['amount'], additionalProperties: false, properties: { amount } },
    Withdraw: { type: 'object', required: ['amount'], additionalProperties: false, properties: { amount } },
  },

  initialState: () => ({ owner: null, balance: 0, open: false }),

  decide(command, state) {
    switch (command.type) {
      case 'Open':
        if (state.open) throw new DomainError('AccountAlreadyOpen', 'the account is already open', 'conflict');
        return [{ type: 'AccountOpened', data: { owner: command.data.owner } }];
      case 'Deposit':
        requireOpen(state);
        if (state.balance + command.data.amount > Number.MAX_SAFE_INTEGER) {
          throw new DomainError('BalanceOverflow', 'the balance would exceed the largest exact amount', 'rule');
        }
        return [{ type: 'Deposited', data: { amount: command.data.amount } }];
      case 'Withdraw':
        requireOpen(state);
        if (command.data.amount > state.balance) {
          throw new DomainError('InsufficientFunds', `cannot withdraw ${command.data.amount}: balance is ${state.balance}`, 'rule', {
            balance: state.balance,
            amount: command.data.amount,
          });
        }
        return [{ type: 'Withdrawn', data: { amount: command.data.amount } }];
      default:
        return unreachable(command);
    }
  },

  // Fields spelled out rather than `{ ...state }`: every state then has one shape, whatever produced the
  // previous one (a literal here, or msgpack decoding a snapshot), and V8 keeps evolve monomorphic.
  evolve(state, event) {
    switch (event.type) {
      case 'AccountOpened':
        return { owner: event.data.owner, balance: 0, open: true };
      case 'Deposited':
        return { owner: state.owner, balance: state.balance + event.data.amount, open: state.open };
      case 'Withdrawn':
        return { owner: state.owner, balance: state.balance - event.data.amount, open: state.open };
      default:
        return unreachable(event);
    }
  },
};

function requireOpen(state: AccountState): void {
  if (!state.open) throw new DomainError('AccountNotOpen', 'the account is not open; send Open first', 'conflict');
}

export default accountDecider;
