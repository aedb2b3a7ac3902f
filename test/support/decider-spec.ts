/** Given/when/then for any decider: fold past events, decide a command, or capture its typed rejection. */
import { expect } from 'vitest';
import { DomainError, type Command, type Decider, type DomainEvent } from '../../src/index.js';

export function deciderSpec<S, C extends Command, E extends DomainEvent>(decider: Decider<S, C, E>, id: string) {
  const ctx = { now: 1_700_000_000_000, id, version: 0 };
  const given = (events: E[]): S => events.reduce(decider.evolve, decider.initialState());
  const when = (state: S, command: C): E[] => decider.decide(command, state, ctx);
  const rejection = (state: S, command: C): DomainError => {
    try {
      when(state, command);
    } catch (err) {
      expect(DomainError.isDomain(err)).toBe(true);
      return err as DomainError;
    }
    throw new Error('expected the decider to reject the command');
  };
  return { ctx, given, when, rejection };
}
