/**
 * `/aggregates/:type/:id...`: commands, current and past state (time machine), and the stream's history.
 *
 * One set of routes per aggregate type, so each command route carries that type's body schema (built from
 * the decider), and a catch-all set answers 404 `UnknownAggregateType` for every other type. The router
 * prefers the static segment, so `/aggregates/account/...` never reaches the catch-all.
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { ErrorCodes, RuntimeError, errors } from '../../kernel/index.js';
import type { ExecuteOptions, LoadOptions, Runtime } from '../../runtime/index.js';
import { diffBody, historyPage, isIsoTime, pointOf, stateBody } from '../aggregate-reads.js';
import { anyJson, envelopeRef, errorResponses, idParams, positionSchema } from '../api-schemas.js';
import { FORWARDED_TO_HEADER, type ClusterRouting } from '../cluster-routing.js';
import { commandReplyJson } from '../envelope-json.js';
import { type ServerMetrics, outcomeOfStatus } from '../metrics.js';
import { commandBodySchema, publicCommandsOf, unknownCommand, type CommandBody } from './command-schema.js';

export interface AggregateRoutesOptions {
  runtime: Runtime;
  metrics: ServerMetrics;
  /** Largest command body in bytes (413 `PayloadTooLarge` above). */
  commandBodyLimit: number;
  /**
   * Cluster mode: what the runtime refuses with `NotOwner` naming another member goes to that member
   * (cluster-routing.ts). Absent on the embedded server.
   */
  routing?: ClusterRouting | undefined;
}

const MAX_EVENTS_PAGE = 1000;
/** What fastify sends for an object body; the command route sends its JSON text with the same header. */
const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';
/** Most commands carry none of the optional fields: they share this instead of a fresh `{}` each. */
const NO_OPTIONS: ExecuteOptions = Object.freeze({});
const stateQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    version: { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER, description: 'The state right after this event (not with `at`)' },
    at: { type: 'string', minLength: 1, maxLength: 64, description: 'The state as of this time: epoch ms, or ISO-8601 (`2026-12-01`, or a date-time with `Z` or an offset)' },
  },
} as const;
const eventsQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    from: { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER, description: 'The first seq to list (default: the first readable one: 1 unless retention cut the stream; before the cut: 410 `Gone`)' },
    limit: { type: 'integer', minimum: 1, maximum: MAX_EVENTS_PAGE, default: 100 },
  },
} as const;
const diffQuery = {
  type: 'object',
  required: ['from', 'to'],
  additionalProperties: false,
  properties: {
    from: { type: 'string', minLength: 1, maxLength: 64, description: 'A version (`3`; `0`: before the first event), an ISO-8601 date or date-time with a zone, or `t:<epoch ms>`' },
    to: { type: 'string', minLength: 1, maxLength: 64, description: 'A point, as `from`' },
  },
} as const;

const events = { type: 'array', items: envelopeRef } as const;
const version = { type: 'integer', minimum: 0 } as const;
const commandReply = {
  description: 'The command was applied (or was a repeat of a `commandId`: `duplicate`)',
  type: 'object',
  required: ['id', 'type', 'version', 'events', 'state'],
  additionalProperties: false,
  properties: {
    id: { type: 'string' },
    type: { type: 'string' },
    version,
    events,
    state: anyJson,
    position: { ...positionSchema, description: 'The log position just after the last event: the read-your-writes token for `GET /views/:name/:id?position=`' },
    duplicate: { const: true, description: 'A repeated `commandId`: the first answer, nothing written' },
  },
} as const;
const stateReply = { description: 'The state, and the version it is at', type: 'object', required: ['id', 'type', 'version', 'state'], additionalProperties: false, properties: { id: { type: 'string' }, type: { type: 'string' }, version, state: anyJson } } as const;
const eventsReply = {
  description: 'A page of events, in seq order',
  type: 'object',
  required: ['events'],
  additionalProperties: false,
  properties: { events, next: { type: 'integer', minimum: 1, description: 'The `from` of the next page, when there is one' } },
} as const;
const point = { type: 'object', required: ['version', 'state'], additionalProperties: false, properties: { version, state: anyJson } } as const;
const diffReply = { description: 'The states at both points (`from.version` 0: before the first event) and the events after `from` up to `to`', type: 'object', required: ['id', 'type', 'from', 'to', 'events'], additionalProperties: false, properties: { id: { type: 'string' }, type: { type: 'string' }, from: point, to: point, events } } as const;
const readErrors = errorResponses({
  400: '`InvalidId`, `InvalidQuery`',
  404: '`StreamNotFound`; `NotFound` (no such version, or no event yet at that time)',
  410: '`Gone`: before the stream\'s retention cut (`firstVersion` is the first readable version)',
});
const unknownTypeParams = { type: 'object', required: ['type', 'id'], properties: { type: { type: 'string', description: 'Not an aggregate type of this server' }, id: { type: 'string' } } } as const;
const unknownType = { params: unknownTypeParams, response: errorResponses({ 404: '`UnknownAggregateType`: this server has no such aggregate type' }) } as const;

export const aggregateRoutes: FastifyPluginAsync<AggregateRoutesOptions> = async (app, { runtime, metrics, commandBodyLimit, routing }) => {
  const duplicates = new WeakSet<FastifyRequest>();
  // A callback-style hook (not async): no promise and no extra microtask per request.
  const recordCommand = (type: string) => (request: FastifyRequest, reply: FastifyReply, done: () => void) => {
    const body = request.body as Partial<CommandBody> | undefined;
    const status = reply.statusCode;
    const outcome = status === 200 && duplicates.has(request) ? 'duplicate' : outcomeOfStatus(status);
    metrics.recordCommand(type, body?.type, outcome, reply.elapsedTime / 1000);
    done();
  };

  for (const type of runtime.aggregateTypes) {
    const decider = runtime.decider(type)!;
    const base = `/aggregates/${encodeURIComponent(type)}/:id`;
    // Only public commands are accepted here (see command-schema.ts); internal ones are unknown to clients.
    const knownCommands = publicCommandsOf(decider);
    const bodySchema = commandBodySchema(decider);

    app.post<{ Params: { id: string }; Body: CommandBody }>(
      `${base}/commands`,
      {
        bodyLimit: commandBodyLimit,
        // Validation errors reach the handler, which can name the known command types.
        attachValidation: true,
        schema: {
          summary: `Execute a public ${type} command`,
          description: `Commands: ${knownCommands.join(', ') || '(none over HTTP)'}. Answered once its events are durable.`,
          params: idParams,
          ...(bodySchema ? { body: bodySchema } : {}),
          response: {
            200: commandReply,
            ...errorResponses({
              400: '`InvalidCommand` (schema error, with `path`), `UnknownCommandType` (`known` lists the public ones), `InvalidId`',
              409: '`VersionConflict` (`expected`, `actual`), `IdempotencyKeyReused`, or a domain conflict',
              413: '`PayloadTooLarge`',
              415: '`UnsupportedMediaType`: not `content-type: application/json`',
              422: 'A domain rule (e.g. `InsufficientFunds`)',
              503: '`Overloaded`, `WorkerCrashed`, `StorageFailed` (retry with the same `commandId`), `CorruptRecord`, `Fenced`; cluster mode: `NotOwner` (the partition is changing hands: retry after `Retry-After`), `Unavailable` with `outcome: "unknown"` (the owner did not answer a forwarded command in time: retry with the same `commandId`)',
            }),
          },
        },
        onResponse: recordCommand(type),
      },
      async (request, reply) => {
        if (request.validationError) throw commandValidationError(request.validationError, knownCommands);
        const body = request.body;
        if (!bodySchema) throw unknownCommand((body as { type?: unknown } | undefined)?.type, knownCommands);
        const command = { type: body.type, data: body.data ?? {} };
        const options = executeOptions(body);
        if (routing) {
          // Cluster mode: a partition another member owns is answered by that member, as it answered.
          const r = await runtime.execute(type, request.params.id, command, options).catch(async (refusal: unknown) => routing.command(refusal, type, request.params.id, command, options));
          void reply.header('content-type', JSON_CONTENT_TYPE);
          if ('owner' in r && 'body' in r) {
            if (r.body.duplicate) duplicates.add(request);
            void reply.header(FORWARDED_TO_HEADER, r.owner);
            return JSON.stringify(r.body);
          }
          if (r.duplicate) duplicates.add(request);
          return commandReplyJson(r, runtime.partitionCount);
        }
        const r = await runtime.execute(type, request.params.id, command, options);
        if (r.duplicate) duplicates.add(request);
        // The JSON text is built here in one pass (see envelope-json.ts); a string with a JSON content type
        // is sent as is. `position` in it is the read-your-writes token for GET /views/:name/:id?position=.
        void reply.header('content-type', JSON_CONTENT_TYPE);
        return commandReplyJson(r, runtime.partitionCount);
      },
    );

    app.get<{ Params: { id: string }; Querystring: { version?: number; at?: string } }>(
      base,
      { schema: { summary: `A ${type}'s state: now, as of a version, or as of a time`, params: idParams, querystring: stateQuery, response: { 200: stateReply, ...readErrors } } },
      async (request, reply) => {
        const { version, at } = request.query;
        if (version !== undefined && at !== undefined) throw new RuntimeError(ErrorCodes.InvalidQuery, 'give either version or at, not both');
        const options: LoadOptions = { ...(version !== undefined ? { version } : {}), ...(at !== undefined ? { at: timeOf(at, 'at') } : {}) };
        const id = request.params.id;
        if (!routing) return stateBody(runtime, type, id, options);
        return stateBody(runtime, type, id, options).catch(async (refusal: unknown) => {
          const f = await routing.state(refusal, type, id, options);
          void reply.header(FORWARDED_TO_HEADER, f.owner);
          return f.body;
        });
      },
    );

    app.get<{ Params: { id: string }; Querystring: { from?: number; limit: number } }>(
      `${base}/events`,
      { schema: { summary: `A ${type}'s events in order, a page at a time`, params: idParams, querystring: eventsQuery, response: { 200: eventsReply, ...readErrors } } },
      async (request, reply) => {
        const { from, limit } = request.query;
        const id = request.params.id;
        if (!routing) return historyPage(runtime, type, id, from, limit);
        return historyPage(runtime, type, id, from, limit).catch(async (refusal: unknown) => {
          const f = await routing.history(refusal, type, id, from, limit);
          void reply.header(FORWARDED_TO_HEADER, f.owner);
          return f.body;
        });
      },
    );
  }

  // The diff between two points of a stream. A point is a version (an integer) or a time (ISO-8601, or
  // `t:<epoch ms>`); `from` may lie before the stream's first event (then every event up to `to` is listed).
  for (const type of runtime.aggregateTypes) {
    app.get<{ Params: { id: string }; Querystring: { from: string; to: string } }>(
      `/aggregates/${encodeURIComponent(type)}/:id/diff`,
      {
        schema: { summary: `The events between two points of a ${type} and the states at both`, params: idParams, querystring: diffQuery, response: { 200: diffReply, ...readErrors } },
      },
      async (request, reply) => {
        const { from, to } = request.query;
        const id = request.params.id;
        // The points are checked here, where the request arrived, before anything is forwarded.
        pointOf(from, 'from');
        pointOf(to, 'to');
        if (!routing) return diffBody(runtime, type, id, from, to);
        return diffBody(runtime, type, id, from, to).catch(async (refusal: unknown) => {
          const f = await routing.diff(refusal, type, id, from, to);
          void reply.header(FORWARDED_TO_HEADER, f.owner);
          return f.body;
        });
      },
    );
  }

  // Any other aggregate type: 404, after the same body limit as the real routes. Counted as `unknown`.
  const refuse = async (request: FastifyRequest) => {
    throw errors.unknownAggregateType((request.params as { type: string }).type);
  };
  const schema = (summary: string) => ({ schema: { summary, ...unknownType } });
  app.post('/aggregates/:type/:id/commands', { bodyLimit: commandBodyLimit, onResponse: recordCommand(''), ...schema('Any other aggregate type: 404') }, refuse);
  app.get('/aggregates/:type/:id', schema('Any other aggregate type: 404'), refuse);
  app.get('/aggregates/:type/:id/events', schema('Any other aggregate type: 404'), refuse);
  app.get('/aggregates/:type/:id/diff', schema('Any other aggregate type: 404'), refuse);
};

/** The optional fields of a command body, as execute options (shared `NO_OPTIONS` when there are none). */
function executeOptions(body: CommandBody): ExecuteOptions {
  const { expectedVersion, commandId, correlationId, causationId } = body;
  if (expectedVersion === undefined && commandId === undefined && correlationId === undefined && causationId === undefined) return NO_OPTIONS;
  return {
    ...(expectedVersion !== undefined ? { expectedVersion } : {}),
    ...(commandId !== undefined ? { commandId } : {}),
    ...(correlationId !== undefined ? { correlationId } : {}),
    ...(causationId !== undefined ? { causationId } : {}),
  };
}

/** `?at=`: epoch ms (digits) or an ISO-8601 time. */
function timeOf(raw: string, name: string): number | string {
  if (/^\d{1,15}$/.test(raw)) return Number(raw);
  if (isIsoTime(raw)) return raw;
  throw new RuntimeError(ErrorCodes.InvalidQuery, `${name} must be epoch ms or an ISO-8601 time (2026-12-01T10:00:00Z); got ${JSON.stringify(raw.slice(0, 64))}`, { field: name });
}

/** Turns a schema rejection of a command request into the most useful error. */
function commandValidationError(err: Error & { validation?: unknown; validationContext?: string }, known: string[]): Error {
  const first = Array.isArray(err.validation) ? (err.validation[0] as { keyword?: string; params?: { error?: string; tagValue?: unknown } }) : undefined;
  if (err.validationContext === 'body' && first?.keyword === 'discriminator' && first.params?.error === 'mapping') {
    return unknownCommand(first.params.tagValue, known);
  }
  return err;
}
