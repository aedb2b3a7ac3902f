/**
 * The built-in account decider that declares event versions but none past 1 (`events: {}`), as a build
 * rolled back to before `Deposited` version 2 would: reading a version-2 deposit must fail loudly
 * (`DeciderFailed`), never fold `{ amount, currency }` as if it were version 1.
 */
import { accountDecider, type AccountCommand, type AccountEvent, type AccountState, type Decider } from '../../src/domain/index.js';

export const accountVersionsOnlyDecider: Decider<AccountState, AccountCommand, AccountEvent> = { ...accountDecider, events: {} };

export const accountVersionsOnlyDomain = new URL('./account-versions-only-domain.ts', import.meta.url);

export default accountVersionsOnlyDecider;
