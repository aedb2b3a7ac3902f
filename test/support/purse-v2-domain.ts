/**
 * `purse` after `Deposited` evolved to version 2 (`{ amount, currency }`, old deposits upcast to euros):
 * the currency account decider (account-currency-domain.ts) under the `purse` type, for `DOMAINS`.
 */
import type { Decider } from '../../src/domain/index.js';
import { accountCurrencyDecider, type CurrencyAccountCommand, type CurrencyAccountEvent, type CurrencyAccountState } from './account-currency-domain.js';

export const purseV2Decider: Decider<CurrencyAccountState, CurrencyAccountCommand, CurrencyAccountEvent> = { ...accountCurrencyDecider, type: 'purse' };

export const purseV2Domain = new URL('./purse-v2-domain.ts', import.meta.url);

export default purseV2Decider;
