/**
 * The JSON schemas the routes share, and the helpers that write a route's `response` section.
 *
 * Response schemas document (they make the OpenAPI document, openapi.ts) and are checked against real
 * answers (test/server/openapi.int.test.ts); they never reshape an answer (schema-compilers.ts). The
 * shared ones (`ErrorBody`, `Envelope`) are added to the app once (`addSharedSchemas`) and referenced as
 * `{ $ref: 'ErrorBody#' }`, so the document holds each once, under `components.schemas`.
 *
 * Gotchas:
 * - Reference the shared schemas from response schemas only (schema-compilers.ts says why).
 * - An answer's fields and these schemas change together: the test fails on an answer its schema refuses.
 */
import type { FastifyInstance } from 'fastify';
import { ID_PATTERN } from '../kernel/index.js';

/** Every error answer (docs/http-api.md, "Errors"). */
export const ErrorBody = {
  $id: 'ErrorBody',
  type: 'object',
  description: 'Every error: a stable code, a message for people, and the details of that code spread into the body',
  required: ['error', 'message'],
  additionalProperties: true,
  properties: {
    error: { type: 'string', description: 'The stable code: one of docs/http-api.md "Errors", or a domain code (`InsufficientFunds`, ...)', examples: ['VersionConflict'] },
    message: { type: 'string' },
    path: { type: 'string', description: 'Schema errors: the offending field, as a JSON pointer (`/data/amount`)' },
    retriable: { type: 'boolean', description: 'Present (true) when the same request may succeed later' },
    retryAfter: { type: 'integer', description: '429: seconds to wait, as in `Retry-After`' },
    retryAfterMs: { type: 'integer', description: '503 `Overloaded`: the `Retry-After` value in ms' },
  },
} as const;

/** An event as every route and the feed show it (envelope-json.ts). */
export const Envelope = {
  $id: 'Envelope',
  type: 'object',
  description: 'One committed event',
  required: ['aggregateType', 'stream', 'type', 'seq', 'data', 'ts', 'partition', 'offset', 'meta'],
  additionalProperties: false,
  properties: {
    aggregateType: { type: 'string' },
    stream: { type: 'string', description: 'The aggregate id' },
    type: { type: 'string', description: 'The event type (`Deposited`)' },
    seq: { type: 'integer', minimum: 1, description: 'Position in the stream: 1, 2, 3, ... with no gap' },
    data: { description: "The event's data, at its type's current schema version" },
    ts: { type: 'string', format: 'date-time', description: 'When it was committed (ISO-8601)' },
    partition: { type: 'integer', minimum: 0 },
    offset: { type: 'integer', minimum: 0, description: "Position in the partition's log: 0, 1, 2, ..." },
    meta: {
      type: 'object',
      additionalProperties: false,
      properties: { commandId: { type: 'string' }, correlationId: { type: 'string' }, causationId: { type: 'string' } },
    },
  },
} as const;

const SHARED = [ErrorBody, Envelope] as const;

/** Adds the shared schemas that `app` does not have yet (a plugin in a plain fastify app adds its own). */
export function addSharedSchemas(app: FastifyInstance): void {
  for (const schema of SHARED) if (app.getSchema(schema.$id) === undefined) app.addSchema(schema);
}

export const errorRef = { $ref: 'ErrorBody#' } as const;
export const envelopeRef = { $ref: 'Envelope#' } as const;

/** An aggregate, command or correlation id. */
export const idSchema = { type: 'string', pattern: ID_PATTERN } as const;

/** `{ id }` path parameters. */
export const idParams = { type: 'object', required: ['id'], properties: { id: { ...idSchema, description: 'The aggregate id' } } } as const;

/** A log position (kernel/position.ts): the next offset of every partition, joined by dots. */
export const positionSchema = { type: 'string', pattern: '^[0-9]+(\\.[0-9]+)*$', description: 'A log position: the next offset of every partition, joined by dots ("12.0.7.3")' } as const;

/** A body that may be left out, or be `{}` (routes that take no input but are POSTs). */
export const emptyBody = {
  type: ['object', 'null'],
  description: 'No body, or `{}` (still with `content-type: application/json`)',
  additionalProperties: false,
  properties: {},
} as const;

/** Any JSON value (a state, a read-model row). */
export const anyJson = {} as const;

/**
 * The error answers of a route, by status, each with what it means there:
 * `errorResponses({ 400: 'InvalidId', 404: 'StreamNotFound' })`.
 */
export function errorResponses(byStatus: Record<number, string>): Record<number, { description: string; $ref: string }> {
  return Object.fromEntries(Object.entries(byStatus).map(([status, description]) => [status, { description, ...errorRef }]));
}
