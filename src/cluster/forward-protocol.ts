/**
 * The messages of forwarding (forwarding.ts): what one node asks another over NATS request/reply, and
 * what it answers. JSON text, one message each way, with a version `v` so a member of another version
 * is refused with a clear error instead of misread.
 *
 * A request: `{ v: 1, hops: 1, origin?, op, aggregateType, id, ... }` with, by `op`:
 * - `execute`: `command: { type, data? }`, `options?: { expectedVersion?, commandId?, correlationId?, causationId? }`;
 * - `load`: `query?: { version? } | { at? }` (`at`: epoch ms or an ISO-8601 string, as the HTTP route takes it);
 * - `history`: `from?`, `limit?`;
 * - `diff`: `from`, `to` (the points as the HTTP route takes them: a version, an ISO-8601 time or `t:<ms>`);
 * - `lifecycle`: `action: 'delete' | 'undelete'`, `hard?`, `by?`, `options?: { commandId?, expectedVersion? }`
 *   (a stream deletion, decided by the stream's owner like a command);
 * - `audit` (no `aggregateType`/`id`: the audit stream is the runtime's own): `record: { kind, target, by?,
 *   details? }`, `commandId` (a lifecycle operation's audit record, sent by the stream's owner to the
 *   audit stream's owner).
 * An answer: `{ v: 1, ok: true, result }` or `{ v: 1, ok: false, error: { code, message, details?, ... } }`
 * (kernel/errors.ts `serializeError`).
 *
 * Gotchas:
 * - These shapes are the protocol between members of one group, which may run different versions during
 *   a rolling upgrade: add optional fields, never rename; a change that old members would misread needs
 *   `v: 2` (old members then refuse it with `InvalidCommand`, and the forwarder answers that).
 * - `hops` is at most `MAX_HOPS` (1): a node answers from what it serves itself and never forwards a
 *   forwarded request again, so a handover (two nodes each believing the other is the owner) cannot
 *   bounce a request between them.
 * - Every request is checked here before a handler sees it: the handler may trust the shapes, not the
 *   values (the runtime still validates the command against its decider's schema).
 */
import { Ajv, type ValidateFunction } from 'ajv';
import { ErrorCodes, ID_PATTERN, RuntimeError, type EnvelopeJson, type SerializedError } from '../kernel/index.js';

export const FORWARD_PROTOCOL_VERSION = 1;
/** A request is forwarded once: the node it reaches answers it or says who it believes owns the partition. */
export const MAX_HOPS = 1;
/** The largest history page one request may ask for (the HTTP route's own limit). */
export const MAX_HISTORY_LIMIT = 1000;

/** The NATS subject node `nodeId` of group `group` answers on: one per node, so a request reaches exactly that member. */
export function nodeSubject(group: string, nodeId: string): string {
  return `eventide.${group}.node.${nodeId}`;
}

/** Execute options as JSON (runtime-api.ts `ExecuteOptions`). */
export interface ExecuteOptionsJson {
  expectedVersion?: number;
  commandId?: string;
  correlationId?: string;
  causationId?: string;
}

export interface CommandJson {
  type: string;
  data?: unknown;
}

/** A past state's point (runtime-api.ts `LoadOptions`, with `at` as JSON can carry it). */
export interface LoadQueryJson {
  version?: number;
  at?: number | string;
}

/** An event as the HTTP API shows it (`ts` as ISO-8601): the kernel's `EnvelopeJson`. */
export type EventJson = EnvelopeJson;

/** A command's answer, as the HTTP command route answers it. */
export interface CommandResultJson {
  id: string;
  type: string;
  version: number;
  events: EventJson[];
  state: unknown;
  /** The log position just after the command's last event, when the owner gives one. */
  position?: string;
  duplicate?: true;
}

/** A state, as `GET /aggregates/:type/:id` answers it. */
export interface StateJson {
  id: string;
  type: string;
  version: number;
  state: unknown;
}

/** A page of a stream's events, as `GET /aggregates/:type/:id/events` answers it (`next`: the next page's `from`). */
export interface HistoryPageJson {
  events: EventJson[];
  next?: number;
}

export interface ExecuteRequest {
  op: 'execute';
  aggregateType: string;
  id: string;
  command: CommandJson;
  options?: ExecuteOptionsJson;
}

export interface LoadRequest {
  op: 'load';
  aggregateType: string;
  id: string;
  query?: LoadQueryJson;
}

export interface HistoryRequest {
  op: 'history';
  aggregateType: string;
  id: string;
  from?: number;
  limit?: number;
}

export interface DiffRequest {
  op: 'diff';
  aggregateType: string;
  id: string;
  /** A point as the HTTP route takes it: a version (`3`, `0`), an ISO-8601 time, or `t:<epoch ms>`. */
  from: string;
  to: string;
}

/** A diff, as `GET /aggregates/:type/:id/diff` answers it (`from.version` 0: before the first event). */
export interface DiffJson {
  id: string;
  type: string;
  from: { version: number; state: unknown };
  to: { version: number; state: unknown };
  events: EventJson[];
}

export interface LifecycleRequest {
  op: 'lifecycle';
  aggregateType: string;
  id: string;
  action: 'delete' | 'undelete';
  /** A tombstone (delete only). */
  hard?: boolean;
  /** Who asked, as the server that took the HTTP request authenticated them (null: no tokens configured). */
  by?: string | null;
  options?: { commandId?: string; expectedVersion?: number };
}

/** A deletion's answer, as `POST /admin/streams/:type/:id/delete` (`deleted`) and `/undelete` answer it. */
export interface LifecycleJson {
  id: string;
  type: string;
  version: number;
  changed: boolean;
  deleted?: 'soft' | 'hard';
}

/** The audit kinds a forwarded audit record may have: those of stream deletions (the only operation that records across nodes). */
export const FORWARDED_AUDIT_KINDS = ['StreamDeleted', 'StreamUndeleted', 'StreamTombstoned'] as const;

export interface AuditRequest {
  op: 'audit';
  record: { kind: (typeof FORWARDED_AUDIT_KINDS)[number]; target: { aggregateType: string; id: string }; by?: string | null; details?: Record<string, unknown> };
  commandId: string;
}

/** An audit record's answer: its version in the audit stream, `duplicate` when the `commandId` had recorded it already. */
export interface AuditJson {
  version: number;
  duplicate?: true;
}

export type ForwardRequest = ExecuteRequest | LoadRequest | HistoryRequest | DiffRequest | LifecycleRequest | AuditRequest;

/** What a request of this kind answers. */
export type ForwardResult<R extends ForwardRequest> = R extends ExecuteRequest
  ? CommandResultJson
  : R extends LoadRequest
    ? StateJson
    : R extends HistoryRequest
      ? HistoryPageJson
      : R extends DiffRequest
        ? DiffJson
        : R extends LifecycleRequest
          ? LifecycleJson
          : AuditJson;

/** A request as it travels: the request, the protocol version, the hop count and the sender. */
export type RequestEnvelope = ForwardRequest & { v: number; hops: number; origin?: string };

const OPS = ['execute', 'load', 'history', 'diff', 'lifecycle', 'audit'] as const;

export type ReplyEnvelope = { v: number; ok: true; result: unknown } | { v: number; ok: false; error: SerializedError };

// --- schemas ----------------------------------------------------------------------------------------

const id = { type: 'string', pattern: ID_PATTERN } as const;
const count = { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER } as const;
const frameFields = {
  v: { const: FORWARD_PROTOCOL_VERSION },
  hops: { type: 'integer', minimum: 1, maximum: MAX_HOPS },
  origin: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' },
} as const;
const envelopeFields = { ...frameFields, aggregateType: id, id } as const;
const envelopeRequired = ['v', 'hops', 'op', 'aggregateType', 'id'];
/** A principal's name as the HTTP layer knows it (a token's name), or null. */
const by = { type: ['string', 'null'], maxLength: 128 } as const;

const executeSchema = {
  type: 'object',
  required: [...envelopeRequired, 'command'],
  additionalProperties: false,
  properties: {
    ...envelopeFields,
    op: { const: 'execute' },
    command: {
      type: 'object',
      required: ['type'],
      additionalProperties: false,
      // `data` is any JSON: the owner's runtime checks it against the command's own schema.
      properties: { type: { type: 'string', minLength: 1, maxLength: 128 }, data: {} },
    },
    options: {
      type: 'object',
      additionalProperties: false,
      properties: { expectedVersion: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER }, commandId: id, correlationId: id, causationId: id },
    },
  },
} as const;

const loadSchema = {
  type: 'object',
  required: [...envelopeRequired],
  additionalProperties: false,
  properties: {
    ...envelopeFields,
    op: { const: 'load' },
    query: {
      type: 'object',
      additionalProperties: false,
      maxProperties: 1,
      properties: { version: count, at: { anyOf: [{ type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER }, { type: 'string', minLength: 1, maxLength: 64 }] } },
    },
  },
} as const;

const historySchema = {
  type: 'object',
  required: [...envelopeRequired],
  additionalProperties: false,
  // The audit stream's type (domain/audit.ts, which this layer does not import) is no valid id, yet its
  // pages are forwarded too (server/routes/audit.ts): the owner's runtime refuses any other `$` type.
  properties: { ...envelopeFields, aggregateType: { anyOf: [id, { const: '$audit' }] }, op: { const: 'history' }, from: count, limit: { type: 'integer', minimum: 1, maximum: MAX_HISTORY_LIMIT } },
} as const;

const point = { type: 'string', minLength: 1, maxLength: 64 } as const;
const diffSchema = {
  type: 'object',
  required: [...envelopeRequired, 'from', 'to'],
  additionalProperties: false,
  properties: { ...envelopeFields, op: { const: 'diff' }, from: point, to: point },
} as const;

const lifecycleSchema = {
  type: 'object',
  required: [...envelopeRequired, 'action'],
  additionalProperties: false,
  properties: {
    ...envelopeFields,
    op: { const: 'lifecycle' },
    action: { enum: ['delete', 'undelete'] },
    hard: { type: 'boolean' },
    by,
    options: { type: 'object', additionalProperties: false, properties: { commandId: id, expectedVersion: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER } } },
  },
} as const;

const auditSchema = {
  type: 'object',
  required: ['v', 'hops', 'op', 'record', 'commandId'],
  additionalProperties: false,
  properties: {
    ...frameFields,
    op: { const: 'audit' },
    commandId: id,
    record: {
      type: 'object',
      required: ['kind', 'target'],
      additionalProperties: false,
      // The audit decider checks the record's full shape; here only what a deletion's record is.
      properties: {
        kind: { enum: [...FORWARDED_AUDIT_KINDS] },
        target: { type: 'object', required: ['aggregateType', 'id'], additionalProperties: false, properties: { aggregateType: { type: 'string', minLength: 1, maxLength: 64 }, id } },
        by,
        details: { type: 'object', maxProperties: 8 },
      },
    },
  },
} as const;

/** Checks the answer's frame only: its result is the owner's (same code, same schemas); its error must be a catalogue-shaped error. */
const replySchema = {
  type: 'object',
  required: ['v', 'ok'],
  properties: {
    v: { const: FORWARD_PROTOCOL_VERSION },
    ok: { type: 'boolean' },
    result: { type: 'object' },
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: {
        code: { type: 'string', minLength: 1, maxLength: 128 },
        message: { type: 'string', maxLength: 4096 },
        details: { type: 'object' },
        domain: { enum: ['conflict', 'rule'] },
        retriable: { type: 'boolean' },
      },
    },
  },
  if: { properties: { ok: { const: true } } },
  then: { required: ['result'] },
  else: { required: ['error'] },
} as const;

// `allErrors: false`: the first error is enough to answer, and allErrors is a DoS risk (DESIGN pitfalls).
const ajv = new Ajv({ allErrors: false, coerceTypes: false, useDefaults: false, removeAdditional: false, strict: false });
const validators: Record<ForwardRequest['op'], ValidateFunction> = {
  execute: ajv.compile(executeSchema),
  load: ajv.compile(loadSchema),
  history: ajv.compile(historySchema),
  diff: ajv.compile(diffSchema),
  lifecycle: ajv.compile(lifecycleSchema),
  audit: ajv.compile(auditSchema),
};
const validateReply = ajv.compile(replySchema);

/** The error for a request that does not pass: `InvalidCommand` for a command (or an unreadable envelope), `InvalidQuery` for a read. */
function invalidRequest(op: unknown, message: string, path = ''): RuntimeError {
  const code = op === 'load' || op === 'history' || op === 'diff' ? ErrorCodes.InvalidQuery : ErrorCodes.InvalidCommand;
  return new RuntimeError(code, `forwarded request: ${message}`, { path });
}

/**
 * The request in `value` (parsed JSON), checked against its op's schema; throws `InvalidCommand` or
 * `InvalidQuery` naming the first thing wrong.
 */
export function checkRequest(value: unknown): RequestEnvelope {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalidRequest(undefined, 'not a JSON object');
  const op = (value as { op?: unknown }).op;
  const validate = (OPS as readonly unknown[]).includes(op) ? validators[op as ForwardRequest['op']] : undefined;
  if (!validate) throw invalidRequest(op, `op must be one of ${OPS.join(', ')}, got ${JSON.stringify(String(op).slice(0, 32))}`, '/op');
  if (!validate(value)) {
    const e = validate.errors?.[0];
    const named = e?.params.missingProperty ?? e?.params.additionalProperty;
    const path = `${e?.instancePath ?? ''}${typeof named === 'string' ? `/${named.slice(0, 64)}` : ''}`;
    const what = e?.keyword === 'required' ? 'is required' : e?.keyword === 'additionalProperties' ? 'is not a known field' : e?.keyword === 'const' && path === '/v' ? `must be ${FORWARD_PROTOCOL_VERSION} (this node speaks version ${FORWARD_PROTOCOL_VERSION} of the protocol)` : (e?.message ?? 'is invalid');
    throw invalidRequest(op, `${path || '(root)'} ${what}`, path);
  }
  return value as RequestEnvelope;
}

/** Parses a request's bytes (JSON text) and checks it (`checkRequest`). */
export function decodeRequest(data: Uint8Array): RequestEnvelope {
  let value: unknown;
  try {
    value = JSON.parse(textDecoder.decode(data));
  } catch {
    throw invalidRequest(undefined, 'not valid JSON');
  }
  return checkRequest(value);
}

/**
 * An answer's bytes, as the forwarder reads them: the result, or the owner's error rebuilt. Throws
 * `Internal` for an answer that is not one of ours (another program on the subject, a broken member).
 */
export function decodeReply(data: Uint8Array, from: string): ReplyEnvelope {
  let value: unknown;
  try {
    value = JSON.parse(textDecoder.decode(data));
  } catch {
    value = undefined;
  }
  if (!validateReply(value)) {
    const v = (value as { v?: unknown } | undefined)?.v;
    const why = typeof v === 'number' && v !== FORWARD_PROTOCOL_VERSION ? `it speaks version ${v} of the protocol, this node ${FORWARD_PROTOCOL_VERSION}` : 'the answer is not a forwarding reply';
    throw new RuntimeError(ErrorCodes.Internal, `node ${from} answered a forwarded request with something unreadable: ${why}`, { owner: from });
  }
  return value as ReplyEnvelope;
}

export const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder('utf-8', { fatal: false });

export function encodeJson(value: unknown): Uint8Array {
  return textEncoder.encode(JSON.stringify(value));
}
