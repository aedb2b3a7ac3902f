/**
 * A test-only aggregate type, `crashy`, whose decider misbehaves on demand so supervision can be proven:
 * - `Ok {n?}`      emits n `Happened` events (default 1): the happy path, several events per command.
 * - `Throw`        throws a plain Error (a decider bug).
 * - `ThrowCoded`   throws an Error that carries a Node-style `code` (like fs or Buffer errors do).
 * - `Crash`        calls process.exit(1): in an actor worker thread this ends only that thread.
 * - `Unencodable`  returns two events, the second of which cannot be encoded (a BigInt past 64 bits).
 * - `PoisonState`  returns one encodable event after which `evolve` makes a state that cannot be encoded
 *                  (a BigInt past 64 bits): the command's snapshot (and reply) cannot be written.
 * Loaded by worker threads through `domains: [...builtinDomains, crashyDomain]`.
 */
import type { Command, Decider, DomainEvent } from '../../src/domain/index.js';

export interface CrashyState {
  happened: number;
  poison?: bigint;
}

export type CrashyCommand =
  | Command<'Ok', { n?: number }>
  | Command<'Throw', Record<string, never>>
  | Command<'ThrowCoded', Record<string, never>>
  | Command<'Crash', Record<string, never>>
  | Command<'Unencodable', Record<string, never>>
  | Command<'PoisonState', Record<string, never>>;

export type CrashyEvent = DomainEvent<'Happened', { i: number; payload?: unknown }>;

const empty = { type: 'object', additionalProperties: false, properties: {} };

const POISON = 'poison the state';

export const crashyDecider: Decider<CrashyState, CrashyCommand, CrashyEvent> = {
  type: 'crashy',
  snapshotVersion: 1,
  publicCommands: [],
  commands: {
    Ok: { type: 'object', additionalProperties: false, properties: { n: { type: 'integer', minimum: 1, maximum: 10 } } },
    Throw: empty,
    ThrowCoded: empty,
    Crash: empty,
    Unencodable: empty,
    PoisonState: empty,
  },
  initialState: () => ({ happened: 0 }),
  decide(command, state) {
    switch (command.type) {
      case 'Ok':
        return Array.from({ length: command.data.n ?? 1 }, (_, k) => ({ type: 'Happened' as const, data: { i: state.happened + k + 1 } }));
      case 'Throw':
        throw new Error('the crashy decider failed on purpose');
      case 'ThrowCoded':
        throw Object.assign(new Error('ENOENT: no such file or directory'), { code: 'ENOENT' });
      case 'Crash':
        process.exit(1);
      // falls through (process.exit never returns)
      case 'Unencodable':
        return [
          { type: 'Happened', data: { i: state.happened + 1, payload: 'first half of Unencodable' } },
          { type: 'Happened', data: { i: state.happened + 2, payload: 2n ** 70n } },
        ];
      case 'PoisonState':
        return [{ type: 'Happened', data: { i: state.happened + 1, payload: POISON } }];
    }
  },
  evolve: (state, event) => (event.data.payload === POISON ? { happened: state.happened + 1, poison: 2n ** 70n } : { happened: state.happened + 1 }),
};

export const crashyDomain = new URL('./crashy-domain.ts', import.meta.url);

export default crashyDecider;
