/**
 * The account workload on Emmett (0.42), the way its docs write a command: `CommandHandler` over
 * `getInMemoryEventStore()`. Each command reads the stream, folds it with `evolve`, runs the handler
 * and appends with the version it read as the expected stream version (CommandHandler's default), so a
 * concurrent append fails with a version conflict, which `retry: { onVersionConflict: true }` retries.
 *
 * decide/evolve are eventide's account decider (src/domain/account.ts) behind Emmett's event types: the
 * same rules, so the comparison measures the stores, not two implementations of the rules.
 *
 * Gotchas: nothing here is durable (the store is a Map in this process); Emmett's in-memory append
 * copies the stream's array and counts every stream's events for the global position, so its cost
 * grows with the stream and the number of streams (the bench reports the stream lengths reached).
 */
import { CommandHandler, getInMemoryEventStore, type Event, type InMemoryEventStore } from '@event-driven-io/emmett';
import { accountDecider, type AccountCommand, type AccountState } from '../../src/domain/index.js';
import type { AccountStore } from './account-store.js';

type AccountOpened = Event<'AccountOpened', { owner: string }>;
type Deposited = Event<'Deposited', { amount: number }>;
type Withdrawn = Event<'Withdrawn', { amount: number }>;
export type EmmettAccountEvent = AccountOpened | Deposited | Withdrawn;

export const evolve = (state: AccountState, event: EmmettAccountEvent): AccountState => accountDecider.evolve(state, event);

export const decide = (command: AccountCommand, state: AccountState, id: string): EmmettAccountEvent[] =>
  // Version 0: the account rules do not read it, and CommandHandler does not hand it to the handler.
  accountDecider.decide(command, state, { now: Date.now(), id, version: 0 }) as EmmettAccountEvent[];

const handle = CommandHandler<AccountState, EmmettAccountEvent>({
  evolve,
  initialState: accountDecider.initialState,
  retry: { onVersionConflict: true },
});

export class EmmettAccounts implements AccountStore {
  readonly store: InMemoryEventStore = getInMemoryEventStore();

  async execute(id: string, command: AccountCommand): Promise<AccountState> {
    const result = await handle(this.store, id, (state) => decide(command, state, id));
    return result.newState;
  }

  /** Events per stream, for the note: Emmett's cost per command grows with it. */
  async streamLengths(ids: readonly string[]): Promise<number[]> {
    return Promise.all(ids.map(async (id) => (await this.store.readStream(id)).events.length));
  }

  async countEvents(ids: readonly string[]): Promise<number> {
    return (await this.streamLengths(ids)).reduce((a, b) => a + b, 0);
  }

  async close(): Promise<void> {}
}
