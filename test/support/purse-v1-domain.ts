/**
 * The built-in account decider under another aggregate type, `purse`, so that `npm start` can serve it
 * through `DOMAINS` (which adds modules to the built-in `account`, never replaces it): version 1 of
 * `Deposited` (`{ amount }`), as a build from before event versions wrote it.
 */
import { accountDecider, type AccountCommand, type AccountEvent, type AccountState, type Decider } from '../../src/domain/index.js';

export const purseV1Decider: Decider<AccountState, AccountCommand, AccountEvent> = { ...accountDecider, type: 'purse' };

export const purseV1Domain = new URL('./purse-v1-domain.ts', import.meta.url);

export default purseV1Decider;
