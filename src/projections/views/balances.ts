/** `balances`: account id -> { owner, balance, open, version }. The account decider's own fold, as a view. */
import { accountDecider, type AccountState } from '../../domain/index.js';
import type { Projection } from '../types.js';

export interface BalanceRow extends AccountState {
  version: number;
  updatedAt: number;
}

export const balancesView: Projection<BalanceRow> = {
  name: 'balances',
  aggregateTypes: ['account'],
  // The holder's name, copied from AccountOpened: sealed in the store, null once the account is forgotten.
  personalData: { fields: ['owner'] },
  apply(row, e) {
    if (row && e.seq <= row.version) return row; // already applied: replays are no-ops
    const state = accountDecider.evolve(row ?? accountDecider.initialState(), e as never);
    return { owner: state.owner, balance: state.balance, open: state.open, version: e.seq, updatedAt: e.ts };
  },
};

export default balancesView;
