/**
 * A view that reads a field only version 2 of `Deposited` has: deposits summed per currency, per account.
 * Fed version-1 data that was not upcast, it would sum under `"undefined"`.
 */
import type { Projection } from '../../src/projections/index.js';

export type DepositsRow = Record<string, number>;

const depositsByCurrency: Projection<DepositsRow> = {
  name: 'deposits',
  aggregateTypes: ['account'],
  apply(row, event) {
    if (event.type !== 'Deposited') return row;
    const { amount, currency } = event.data as { amount: number; currency: string };
    const key = String(currency);
    return { ...row, [key]: (row?.[key] ?? 0) + amount };
  },
};

export const depositsByCurrencyView = new URL('./deposits-by-currency-view.ts', import.meta.url);

export default depositsByCurrency;
