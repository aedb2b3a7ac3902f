/**
 * The body schema of `POST /aggregates/<type>/:id/commands`, built from the decider's own command schemas:
 * a `oneOf` discriminated by `type`, so the edge rejects a bad command with the error of the one branch that
 * applies ("/data/amount must be >= 1") instead of one error per branch.
 *
 * Gotchas: the validator that compiles it must run with `discriminator: true`, `coerceTypes: false` and
 * `removeAdditional: false` (see `schema-compilers.ts`): coercion would accept `"amount": "5"`, which the
 * runtime then rejects, and removal would silently drop a misspelled field.
 */
import { ID_PATTERN } from '../../kernel/index.js';
import type { AnyDecider, JsonSchema } from '../../domain/index.js';

const id = { type: 'string', pattern: ID_PATTERN };

/** Fields every command body may carry besides `type` and `data`. */
const COMMON = {
  expectedVersion: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER },
  commandId: id,
  correlationId: id,
  causationId: id,
} as const;

export function commandBodySchema(decider: AnyDecider): JsonSchema {
  const branches = Object.entries(decider.commands as Record<string, JsonSchema>).map(([name, data]) => ({
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
