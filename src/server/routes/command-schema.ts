/**
 * The body schema of `POST /aggregates/<type>/:id/commands`, built from the decider's own command schemas:
 * a `oneOf` discriminated by `type`, so the edge rejects a bad command with the error of the one branch that
 * applies ("/data/amount must be >= 1") instead of one error per branch.
 *
 * Only the decider's **public** commands are branches: an internal command (the video pipeline's
 * `StartProcessing`, `CompleteRendition`, ...) is, to an outside client, a command that does not exist
 * (400 `UnknownCommandType`, `known` listing the public ones). Nothing about internal commands leaks.
 *
 * Gotchas: the validator that compiles it must run with `discriminator: true`, `coerceTypes: false` and
 * `removeAdditional: false` (see `schema-compilers.ts`): coercion would accept `"amount": "5"`, which the
 * runtime then rejects, and removal would silently drop a misspelled field.
 */
import { ErrorCodes, ID_PATTERN, RuntimeError } from '../../kernel/index.js';
import type { AnyDecider, JsonSchema } from '../../domain/index.js';

const id = { type: 'string', pattern: ID_PATTERN };

/** Fields every command body may carry besides `type` and `data`. */
const COMMON = {
  expectedVersion: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER },
  commandId: id,
  correlationId: id,
  causationId: id,
} as const;

/** The command types an outside client may send: those the decider lists as public (none when it lists none). */
export function publicCommandsOf(decider: AnyDecider): string[] {
  const listed: readonly string[] = decider.publicCommands ?? [];
  return listed.filter((name) => Object.hasOwn(decider.commands, name));
}

/** 400 `UnknownCommandType` for a command type that is not public, `known` listing the public ones. */
export function unknownCommand(type: unknown, known: string[]): RuntimeError {
  const name = typeof type === 'string' ? type.slice(0, 64) : String(type).slice(0, 64);
  return new RuntimeError(ErrorCodes.UnknownCommandType, `no command ${JSON.stringify(name)}; known: ${known.join(', ') || '(none: this aggregate type takes no commands over HTTP)'}`, { known });
}

/** Null when the decider has no public command (Ajv refuses an empty `oneOf` with a discriminator). */
export function commandBodySchema(decider: AnyDecider): JsonSchema | null {
  const commands = decider.commands as Record<string, JsonSchema>;
  const names = publicCommandsOf(decider);
  if (names.length === 0) return null;
  const branches = names.map((name) => [name, commands[name]!] as const).map(([name, data]) => ({
    type: 'object',
    // `data` may be left out only when the command has no required field (it then defaults to {}).
    required: Array.isArray(data.required) && data.required.length > 0 ? ['type', 'data'] : ['type'],
    additionalProperties: false,
    properties: { type: { const: name }, data, ...COMMON },
  }));
  return { type: 'object', required: ['type'], discriminator: { propertyName: 'type' }, oneOf: branches };
}

export interface CommandBody {
  type: string;
  data?: unknown;
  expectedVersion?: number;
  commandId?: string;
  correlationId?: string;
  causationId?: string;
}
