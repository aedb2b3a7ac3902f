/**
 * What the peers suite drives: one account store per peer (eventide, Emmett in memory, PostgreSQL),
 * each answering `execute(id, command)` once the command's events are stored the way that peer stores
 * them. The PostgreSQL stores decide with eventide's own account decider (src/domain/account.ts) through
 * `decideAndFold`, so every peer runs the same rules on the same workload.
 */
import { accountDecider, type AccountCommand, type AccountEvent, type AccountState } from '../../src/domain/index.js';

export interface AccountStore {
  /** Resolves once the command's events are stored (durably, for the durable peers); rejects on a rule. */
  execute(id: string, command: AccountCommand): Promise<unknown>;
  /** Events stored in the streams `ids` (the only streams the bench writes): it must equal the commands acknowledged. */
  countEvents(ids: readonly string[]): Promise<number>;
  close(): Promise<void>;
}

/** A stream's state after `version` events. */
export interface Folded {
  version: number;
  state: AccountState;
}

export const EMPTY: Folded = { version: 0, state: accountDecider.initialState() };

export function foldEvents(from: Folded, events: readonly AccountEvent[]): Folded {
  let state = from.state;
  for (const e of events) state = accountDecider.evolve(state, e);
  return { version: from.version + events.length, state };
}

/** The decider's events for `command` on `current` (throws its DomainError on a broken rule), and the state after them. */
export function decideAndFold(id: string, current: Folded, command: AccountCommand): { events: AccountEvent[]; next: Folded } {
  const events = accountDecider.decide(command, current.state, { now: Date.now(), id, version: current.version });
  return { events, next: foldEvents(current, events) };
}

/**
 * Last known state per stream, as a service in front of an event table keeps it so that a command needs
 * only the stream's tail, not its whole history (eventide keeps live actors for the same reason). Only
 * ever moves forward; bounded (oldest entry dropped: it is re-read from the table when next used).
 */
export class StateCache {
  readonly #entries = new Map<string, Folded>();
  readonly #max: number;

  constructor(max = 100_000) {
    this.#max = max;
  }

  get(id: string): Folded {
    return this.#entries.get(id) ?? EMPTY;
  }

  advance(id: string, f: Folded): void {
    const known = this.#entries.get(id);
    if (known && known.version >= f.version) return;
    this.#entries.set(id, f);
    if (this.#entries.size > this.#max) this.#entries.delete(this.#entries.keys().next().value!);
  }
}
