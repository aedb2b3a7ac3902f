/**
 * The decider pattern (as in Emmett): `decide(command, state) -> events`, `evolve(state, event) -> state`.
 * Deciders are pure and synchronous: no clock, no randomness, no I/O. Time reaches them as data
 * (`context.now`), so replaying a stream always folds to the same state.
 */
import { ErrorCodes, RuntimeError } from '../kernel/index.js';

/** A JSON schema for one command's `data`, as fastify/Ajv accept it. */
export type JsonSchema = Record<string, unknown>;

export interface Command<T extends string = string, D = unknown> {
  type: T;
  data: D;
}

export interface DomainEvent<T extends string = string, D = unknown> {
  type: T;
  data: D;
}

export interface DecideContext {
  /** Wall-clock ms of the command, chosen by the runtime, never decreasing within a stream. */
  now: number;
  /** The aggregate's id. */
  id: string;
  /** The stream's version before this command (0 for a new stream). */
  version: number;
}

/**
 * One event type's schema: the version `decide` produces it at, and how to read every older one.
 * Events are never rewritten (the log is append-only), so the data of version 1 stays in the log
 * forever; upcasters turn it into the current shape whenever it is read.
 *
 * ```ts
 * events: { Deposited: { version: 2, upcast: { 1: (d: { amount: number }) => ({ amount: d.amount, currency: 'EUR' }) } } }
 * ```
 */
export interface EventVersion {
  /** The current version (an integer >= 1): events of this type are stored with it. Only ever goes up. */
  readonly version: number;
  /**
   * `upcast[v]` turns data of version `v` into data of version `v + 1`; one for every `v` in
   * `1 .. version - 1`, applied in a chain (v1 -> v2 -> v3). Pure, like `evolve`: the same input always
   * gives the same output, no clock, no I/O, no mutation of its argument (return new data). Keep them
   * forever: the old events they read are never rewritten.
   */
  readonly upcast?: Readonly<Record<number, (data: never) => unknown>>;
}

/**
 * Which fields of which events hold personal data, and whose (crypto-shredding: runtime/subject-cipher.ts).
 * Those fields are stored sealed with their data subject's key, and once the subject is forgotten
 * (`runtime.forget(subject)`) every read shows them as `null`, while the rest of each event stays.
 *
 * ```ts
 * personalData: { subject: '$id', events: { AccountOpened: ['owner'] } }
 * ```
 */
export interface PersonalData<E extends DomainEvent = DomainEvent> {
  /**
   * Whose data it is: `'$id'`, the stream's own id (an account's data is its holder's; forget the
   * account's id to forget it). The only form so far: a snapshot holds a whole state, sealed with the
   * stream's one subject key, which needs one subject per stream.
   */
  readonly subject: '$id';
  /** Event type -> its personal fields: top-level keys of the event's `data` (at the current version). */
  readonly events: Readonly<Partial<Record<E['type'], readonly string[]>>>;
}

export interface Decider<S = unknown, C extends Command = Command, E extends DomainEvent = DomainEvent> {
  /** Aggregate type name, as it appears in routes and envelopes (e.g. `account`). */
  readonly type: string;
  /**
   * Bumped whenever `evolve` or the state's shape changes (a new event version that `evolve` folds
   * differently is such a change). Persisted snapshots carry it; a snapshot with another version is
   * ignored and rebuilt from the events.
   */
  readonly snapshotVersion: number;
  /** One JSON schema per command type, for the `data` of that command. */
  readonly commands: Readonly<Record<C['type'], JsonSchema>>;
  /**
   * The command types an outside client may send (over HTTP). Every other command is internal: only
   * in-process callers (`runtime.execute`, e.g. the video pipeline) may send it. Listing none is allowed
   * and is the safe choice for a decider whose commands carry server-made facts (paths, attempts).
   */
  readonly publicCommands: readonly C['type'][];
  /**
   * How the `data` of each event type evolved (see `EventVersion`). Leave a type out while it still has
   * its first shape; leave the whole field out while every type does. `E` (what `decide` returns and
   * `evolve` gets) always describes the current version: older stored data is upcast before `evolve`,
   * a view or any reader sees it.
   */
  readonly events?: Readonly<Partial<Record<E['type'], EventVersion>>>;
  /**
   * The event fields that hold personal data (see `PersonalData`). A type that declares any has its
   * persisted snapshots sealed too (its states hold those fields). Its `evolve` and every reader must
   * take `null` in their place: that is how a forgotten subject's fields read.
   */
  readonly personalData?: PersonalData<E>;
  initialState(): S;
  decide(command: C, state: S, context: DecideContext): E[];
  evolve(state: S, event: E): S;
}

// `any` here lets a registry hold deciders of different state/command/event types.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyDecider = Decider<any, any, any>;

/** Ends every exhaustive switch: the compiler proves the case cannot happen. */
export function unreachable(x: never): never {
  throw new RuntimeError(ErrorCodes.DeciderFailed, `unreachable: ${JSON.stringify(x)}`);
}
