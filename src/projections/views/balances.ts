/**
 * `balances`: account id -> { owner, balance, open, version }. The account decider's own fold, as a view.
 * A soft-deleted account keeps its row marked `deleted: true` (an undelete clears the mark; a command
 * that re-creates it starts the row again); a tombstoned one loses its row.
 */
import { STREAM_DELETED, STREAM_TOMBSTONED, accountDecider, isLifecycleType, type AccountState } from '../../domain/index.js';
import type { Projection } from '../types.js';

export interface BalanceRow extends AccountState {
  version: number;
  updatedAt: number;
  /** The account was deleted (soft): the row is kept for an undelete. */
  deleted?: true;
}

export const balancesView: Projection<BalanceRow> = {
  name: 'balances',
  aggregateTypes: ['account'],
  streamLifecycle: true,
  // The holder's name, copied from AccountOpened: sealed in the store, null once the account is forgotten.
  personalData: { fields: ['owner'] },
  apply(row, e) {
    if (row && e.seq <= row.version) return row; // already applied: replays are no-ops
    if (isLifecycleType(e.type)) {
      if (e.type === STREAM_TOMBSTONED || !row) return undefined;
      const { owner, balance, open } = row;
      return e.type === STREAM_DELETED ? { owner, balance, open, version: e.seq, updatedAt: e.ts, deleted: true } : { owner, balance, open, version: e.seq, updatedAt: e.ts };
    }
    // A deleted account that a command re-creates starts again, as its stream's state does.
    const state = accountDecider.evolve(row && !row.deleted ? row : accountDecider.initialState(), e as never);
    return { owner: state.owner, balance: state.balance, open: state.open, version: e.seq, updatedAt: e.ts };
  },
};

export default balancesView;
