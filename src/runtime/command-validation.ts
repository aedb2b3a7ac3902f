/**
 * Command validation on the main thread, before anything reaches a worker (DESIGN invariant 6: bad input
 * never reaches the log): the aggregate type must be known, the id and the metadata ids must match the id
 * rule, the command type must be one the decider has, and its `data` must match that command's JSON schema
 * (compiled once, here, when the runtime opens). What passes becomes the `CommandRequest` a worker runs.
 *
 * Which commands HTTP clients may send (`publicCommands`) is decided at the edge (server/), and a
 * `publicCommands` list naming a command the decider lacks is refused when the deciders load
 * (domain-registry.ts): in-process callers may run every command.
 *
 * Gotchas:
 * - This is on every command's path: no per-call arrays, spreads or key strings (GC was a third of the
 *   main thread's time in the throughput profile). The schemas sit in a Map per aggregate type for that.
 * - The checks run in a fixed order, and the error a caller gets depends on it (an unknown type before a
 *   bad id, a bad id before a bad command): tests and the HTTP status table rely on the codes.
 */
import { Ajv, type ValidateFunction } from 'ajv';
import { ErrorCodes, RuntimeError, assertValidId, errors, type Clock } from '../kernel/index.js';
import type { AnyDecider } from '../domain/index.js';
import type { CommandRequest } from './protocol.js';
import { LIFECYCLE_COMMAND_TYPES, type StreamLifecycleCommand } from './stream-deletion-api.js';
import type { ExecuteOptions } from './runtime-api.js';

export class CommandValidation {
  readonly #deciders: ReadonlyMap<string, AnyDecider>;
  /** aggregate type -> command type -> compiled schema (nested: no key string built per call). */
  readonly #validators = new Map<string, Map<string, ValidateFunction>>();

  readonly #clock: Clock;

  /** `clock`: the runtime's (options.clock): each command's time, and so its events' `ts`, comes from it. */
  constructor(deciders: ReadonlyMap<string, AnyDecider>, clock: Clock) {
    this.#clock = clock;
    this.#deciders = deciders;
    const ajv = new Ajv({ allErrors: false, coerceTypes: false, useDefaults: false, removeAdditional: false, strict: false });
    for (const d of deciders.values()) {
      const byCommand = new Map<string, ValidateFunction>();
      for (const [cmd, schema] of Object.entries(d.commands as Record<string, object>)) byCommand.set(cmd, ajv.compile(schema));
      this.#validators.set(d.type, byCommand);
    }
  }

  /** The decider of an aggregate type; `UnknownAggregateType` otherwise. */
  decider(type: unknown): AnyDecider {
    const d = typeof type === 'string' ? this.#deciders.get(type) : undefined;
    if (!d) throw errors.unknownAggregateType(String(type));
    return d;
  }

  /** The request a worker runs, once the command passed every check (see the header for their order). */
  request(rid: number, aggregateType: string, id: string, command: { type: string; data?: unknown }, opts: ExecuteOptions): CommandRequest {
    const decider = this.decider(aggregateType);
    assertValidId(id);
    if (typeof command !== 'object' || command === null || typeof command.type !== 'string') {
      throw new RuntimeError(ErrorCodes.InvalidCommand, 'a command is { type, data }');
    }
    const validate = this.#validators.get(aggregateType)?.get(command.type);
    if (!validate) {
      throw new RuntimeError(ErrorCodes.UnknownCommandType, `${aggregateType} has no command ${JSON.stringify(command.type.slice(0, 64))}; known: ${Object.keys(decider.commands).join(', ')}`, {
        known: Object.keys(decider.commands),
      });
    }
    const data = command.data ?? {};
    if (!validate(data)) {
      const e = validate.errors?.[0];
      throw new RuntimeError(ErrorCodes.InvalidCommand, `invalid ${command.type} data: ${e ? `${e.instancePath || '(root)'} ${e.message}` : 'schema mismatch'}`, {
        path: e?.instancePath ?? '',
      });
    }
    const { expectedVersion, commandId, correlationId, causationId } = opts;
    if (expectedVersion !== undefined && (!Number.isSafeInteger(expectedVersion) || expectedVersion < 0)) {
      throw new RuntimeError(ErrorCodes.InvalidCommand, 'expectedVersion must be a non-negative integer');
    }
    // The common call carries none of these: no per-call arrays or spreads on that path.
    const req: CommandRequest = { rid, aggregateType, id, command: { type: command.type, data }, now: this.#clock.now() };
    if (expectedVersion !== undefined) req.expectedVersion = expectedVersion;
    if (commandId !== undefined) req.commandId = checkedId('commandId', commandId);
    if (correlationId !== undefined) req.correlationId = checkedId('correlationId', correlationId);
    if (causationId !== undefined) req.causationId = checkedId('causationId', causationId);
    return req;
  }

  /**
   * The request of a runtime lifecycle command (delete, tombstone, undelete: stream-deletion.ts): no
   * decider schema, but the same checks of type, id and options as a command's.
   */
  lifecycleRequest(rid: number, aggregateType: string, id: string, command: StreamLifecycleCommand, opts: LifecycleRequestOptions): CommandRequest {
    this.decider(aggregateType);
    assertValidId(id);
    const { expectedVersion, commandId, by } = opts;
    if (expectedVersion !== undefined && (!Number.isSafeInteger(expectedVersion) || expectedVersion < 0)) {
      throw new RuntimeError(ErrorCodes.InvalidCommand, 'expectedVersion must be a non-negative integer');
    }
    if (by !== undefined && by !== null && (typeof by !== 'string' || by.length === 0 || by.length > 128)) throw new RuntimeError(ErrorCodes.InvalidCommand, 'by must be a string of 1 to 128 characters, or null');
    const req: CommandRequest = { rid, aggregateType, id, command: { type: LIFECYCLE_COMMAND_TYPES[command], data: { by: by ?? null } }, now: this.#clock.now() };
    if (expectedVersion !== undefined) req.expectedVersion = expectedVersion;
    if (commandId !== undefined) req.commandId = checkedId('commandId', commandId);
    return req;
  }
}

/** What a lifecycle command carries besides its stream (runtime-api.ts `StreamLifecycleOptions`). */
export interface LifecycleRequestOptions {
  by?: string | null;
  commandId?: string;
  expectedVersion?: number;
}

function checkedId(name: string, value: string): string {
  try {
    assertValidId(value);
  } catch {
    throw new RuntimeError(ErrorCodes.InvalidCommand, `${name} must match [A-Za-z0-9_.:-]{1,128}`);
  }
  return value;
}
