/**
 * The account decider after a (pretend) state change: `snapshotVersion: 2`, and the state also counts
 * the events folded into it (`events`). A snapshot written by version 1 lacks that field, so using it
 * would be visible; the runtime must ignore it and fold the events instead (DESIGN invariant 4).
 */
import { accountDecider, type AccountCommand, type AccountEvent, type AccountState, type Decider } from '../../src/domain/index.js';

export interface AccountStateV2 extends AccountState {
  events: number;
}

export const accountV2Decider: Decider<AccountStateV2, AccountCommand, AccountEvent> = {
  type: 'account',
  snapshotVersion: 2,
  commands: accountDecider.commands,
  publicCommands: accountDecider.publicCommands,
  // The built-in account's owner is personal data: a later decider of the type keeps declaring it.
  personalData: { subject: '$id', events: { AccountOpened: ['owner'] } },
  initialState: () => ({ ...accountDecider.initialState(), events: 0 }),
  decide: (command, state, context) => accountDecider.decide(command, state, context),
  evolve: (state, event) => ({ ...accountDecider.evolve(state, event), events: state.events + 1 }),
};

export const accountV2Domain = new URL('./account-v2-domain.ts', import.meta.url);

export default accountV2Decider;
