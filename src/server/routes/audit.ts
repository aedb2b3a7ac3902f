/**
 * `GET /admin/audit`: the audit stream (`$audit/lifecycle`, docs/data-lifecycle.md "Audit"), every
 * retention change, deletion, forgotten subject and scavenge pass, as records an operator reads:
 * `{ seq, ts, kind, target, by, details }`. Admin scope (scopes.ts): it names who did what to which stream.
 *
 * Paging: newest first by default, which is what an operator looks for. `?before=<seq>` pages backwards
 * (the records before that seq, newest first) and each page names the `older` cursor; `?from=<seq>`
 * reads forwards instead (oldest first, `next` cursor), for a tool that follows the stream. `head` is the
 * stream's version, so a client sees whether anything newer arrived.
 *
 * Cluster mode: the audit stream lives on one partition. A server that does not serve it forwards the
 * read to the member that does (the forward protocol's `history` op takes the audit type besides domain
 * types); `head` is this server's view of the stream (it follows every partition), so a page asked with
 * `before` on another member may start a record or two behind the owner's newest. During a handover the
 * answer is 503 `NotOwner` with Retry-After.
 */
import type { FastifyPluginAsync } from 'fastify';
import { AUDIT_STREAM, AUDIT_TYPE } from '../../domain/index.js';
import { ErrorCodes, RuntimeError, type EventEnvelope } from '../../kernel/index.js';
import type { Runtime } from '../../runtime/index.js';
import type { ClusterRouting } from '../cluster-routing.js';
import { errorResponses } from '../api-schemas.js';
import { isoTime } from '../envelope-json.js';

const MAX_PAGE = 500;
const seq = { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER } as const;

const query = {
  type: 'object',
  additionalProperties: false,
  properties: {
    before: { ...seq, description: 'Newest first, from the record just before this seq (default: from the newest); not with `from`' },
    from: { ...seq, description: 'Oldest first, from this seq; not with `before`' },
    limit: { type: 'integer', minimum: 1, maximum: MAX_PAGE, default: 100 },
  },
} as const;

const record = {
  type: 'object',
  required: ['seq', 'ts', 'kind', 'target', 'by', 'details'],
  additionalProperties: false,
  properties: {
    seq: { type: 'integer', minimum: 1, description: 'The record\'s version in the audit stream' },
    ts: { type: 'string', description: 'When it was recorded (ISO-8601)' },
    kind: { type: 'string', description: '`RetentionSet`, `StreamDeleted`, `StreamUndeleted`, `StreamTombstoned`, `SubjectForgotten`, `ScavengeCompleted` (new kinds may be added)' },
    target: {
      type: 'object',
      additionalProperties: false,
      description: 'A stream (`aggregateType`, `id`), every stream of a type (`aggregateType`), or a data subject (`subject`)',
      properties: { aggregateType: { type: 'string' }, id: { type: 'string' }, subject: { type: 'string' } },
    },
    by: { type: ['string', 'null'], description: 'Who asked: a token\'s name, `cli`, or null (an embedder\'s call without one)' },
    details: { type: 'object', additionalProperties: true, description: 'The settings or the outcome (never personal data)' },
  },
} as const;

const reply = {
  description: 'A page of audit records: newest first (with `older`), or with `from` oldest first (with `next`)',
  type: 'object',
  required: ['records', 'head'],
  additionalProperties: false,
  properties: {
    records: { type: 'array', items: record },
    head: { type: 'integer', minimum: 0, description: 'The audit stream\'s version: the newest record\'s seq (0: none yet)' },
    older: { ...seq, description: 'Newest-first pages: the `before` of the next (older) page, when there is one' },
    next: { ...seq, description: 'With `from`: the `from` of the next page, when the stream has more' },
  },
} as const;

export interface AuditRecordJson {
  seq: number;
  ts: string;
  kind: string;
  target: { aggregateType?: string; id?: string; subject?: string };
  by: string | null;
  details: Record<string, unknown>;
}

export interface AuditPage {
  records: AuditRecordJson[];
  head: number;
  older?: number;
  next?: number;
}

interface Query {
  before?: number;
  from?: number;
  limit: number;
}

export const auditRoutes: FastifyPluginAsync<{ runtime: Runtime; routing?: ClusterRouting | undefined }> = async (app, { runtime, routing }) => {
  app.get<{ Querystring: Query }>(
    '/admin/audit',
    {
      schema: {
        summary: 'The audit stream: every retention change, deletion, forgotten subject and scavenge pass, newest first',
        querystring: query,
        response: { 200: reply, ...errorResponses({ 400: '`InvalidQuery`: both `before` and `from`', 503: 'cluster mode: `NotOwner` (the audit stream is changing hands: retry after `Retry-After`), `Unavailable` (its owner did not answer)' }) },
      },
    },
    async (request) => auditPage(runtime, request.query, routing),
  );
};

/** A page of the audit stream as the route answers it (the module header says how it pages). */
export async function auditPage(runtime: Runtime, q: Query, routing?: ClusterRouting): Promise<AuditPage> {
  if (q.before !== undefined && q.from !== undefined) throw new RuntimeError(ErrorCodes.InvalidQuery, 'before and from page in opposite directions: give one of them', { field: 'before' });
  // The head is this node's view; the read below is what checks (cluster mode) that this node serves
  // the stream, so a page is never built from a stale copy.
  const head = runtime.log.streamHead(AUDIT_TYPE, AUDIT_STREAM).version;
  if (q.from !== undefined) {
    const events = await read(runtime, q.from, q.limit, routing);
    const last = events.at(-1);
    return { records: events.map(recordJson), head, ...(last !== undefined && last.seq < head ? { next: last.seq + 1 } : {}) };
  }
  const end = Math.min(head, (q.before ?? Number.MAX_SAFE_INTEGER) - 1);
  if (end < 1) {
    await read(runtime, 1, 1, routing);
    return { records: [], head };
  }
  const start = Math.max(1, end - q.limit + 1);
  const events = await read(runtime, start, end - start + 1, routing);
  return { records: events.map(recordJson).reverse(), head, ...(start > 1 ? { older: start } : {}) };
}

/** The audit stream's events from `from` (forwarded to its owner in cluster mode); none (not `StreamNotFound`) before the first record. */
async function read(runtime: Runtime, from: number, limit: number, routing: ClusterRouting | undefined): Promise<AuditEvent[]> {
  try {
    try {
      return await runtime.history(AUDIT_TYPE, AUDIT_STREAM, { from, limit });
    } catch (refusal) {
      if (!routing) throw refusal;
      return (await routing.history(refusal, AUDIT_TYPE, AUDIT_STREAM, from, limit)).body.events;
    }
  } catch (err) {
    if (RuntimeError.is(err, ErrorCodes.StreamNotFound)) return [];
    throw err;
  }
}

/** An audit event as read here (an envelope) or forwarded (its JSON: `ts` already ISO). */
type AuditEvent = Pick<EventEnvelope, 'seq' | 'type' | 'data'> & { ts: number | string };

function recordJson(e: AuditEvent): AuditRecordJson {
  const data = e.data as { target?: AuditRecordJson['target']; by?: string | null; details?: Record<string, unknown> };
  return { seq: e.seq, ts: typeof e.ts === 'string' ? e.ts : isoTime(e.ts), kind: e.type, target: data.target ?? {}, by: data.by ?? null, details: data.details ?? {} };
}
