/**
 * Forwarding: any server answers any request. A node that gets a command or a read for a partition
 * another member owns sends it to that member over NATS request/reply (`forwardTo`), and every node
 * answers the requests sent to it (`serveNode`) with a handler that acts on what it serves itself.
 * The messages are forward-protocol.ts's; nothing here knows the runtime, only the handler's JSON.
 *
 * One subject per node (`eventide.<group>.node.<nodeId>`, a plain subscription, no queue group): a
 * request reaches exactly the member the sender believes owns the partition, and when that member is
 * gone NATS says so at once (no responders) instead of letting the request time out.
 *
 * What a caller can conclude from each outcome (docs/cluster.md, "Forwarding"):
 * - an answer: the owner's, result or error, as it sent it (its `NotOwner` too: never forwarded again);
 * - no responders: nothing was done (no node has the subject) -> `NotOwner`, retry after about a lease;
 * - a timeout: the request may have run. For a command that is an unknown outcome -> `Unavailable`
 *   with `outcome: 'unknown'` (retry with the same `commandId`); for a read, just `Unavailable`.
 *
 * Gotchas:
 * - The handler must answer from what its node serves, never forward again (`MAX_HOPS`): during a
 *   handover two nodes may each believe the other owns the partition, and a second hop would bounce.
 * - A command without a `commandId` cannot be retried safely after a timeout (a retry is a new
 *   command): clients should send command ids in cluster mode. The forwarder does not invent one,
 *   because the client's retry would carry another.
 * - Two live processes with the same node id (a paused zombie and its restart) would both get the
 *   node's requests and the sender takes the first answer: the owner's fencing (leases, the log's
 *   conditional appends) keeps that safe; only the answer may be a `NotOwner` where the other executed.
 * - Answers are bounded by the NATS server's `max_payload` (1 MiB by default): a larger answer is sent
 *   as a `PayloadTooLarge` error that says whether the command was applied.
 */
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import { deserializeError, ErrorCodes, RuntimeError, serializeError } from '../kernel/index.js';
import {
  decodeReply,
  decodeRequest,
  encodeJson,
  FORWARD_PROTOCOL_VERSION,
  MAX_HOPS,
  nodeSubject,
  checkRequest,
  type AuditJson,
  type AuditRequest,
  type CommandJson,
  type CommandResultJson,
  type DiffJson,
  type LifecycleJson,
  type LifecycleRequest,
  type ExecuteOptionsJson,
  type ForwardRequest,
  type ForwardResult,
  type HistoryPageJson,
  type LoadQueryJson,
  type RequestEnvelope,
  type StateJson,
} from './forward-protocol.js';
import { NAME_PATTERN } from './records.js';

/**
 * What a node does with the requests forwarded to it: the runtime's execute, load and history, in
 * JSON. Each acts on what this node serves; for a partition it does not serve it rejects with
 * `NotOwner` naming the owner it believes in (never forwards). A rejection with a `RuntimeError`
 * reaches the sender as it is (code, message, details); anything else as `Internal`.
 */
export interface ForwardHandler {
  execute(aggregateType: string, id: string, command: CommandJson, options: ExecuteOptionsJson): Promise<CommandResultJson>;
  load(aggregateType: string, id: string, query?: LoadQueryJson): Promise<StateJson>;
  history(aggregateType: string, id: string, from?: number, limit?: number): Promise<HistoryPageJson>;
  /**
   * The diff between two points (as the HTTP route takes them). Optional, as the two below, for
   * handlers written before it: a node without one answers such a request `InvalidQuery`/`InvalidCommand`.
   */
  diff?(aggregateType: string, id: string, from: string, to: string): Promise<DiffJson>;
  /** A stream deletion or undelete, decided by this node as the stream's owner. */
  lifecycle?(request: LifecycleRequest): Promise<LifecycleJson>;
  /** A lifecycle operation's audit record, appended by this node as the audit stream's owner. */
  audit?(record: AuditRequest['record'], commandId: string): Promise<AuditJson>;
}

export interface ServeNodeOptions {
  /** An open connection (not closed by the service). */
  connection: NatsConnection;
  /** The group's name ([A-Za-z0-9_-]{1,64}), as given to `joinGroup`. */
  group: string;
  /** This node's id in the group. */
  nodeId: string;
  handler: ForwardHandler;
  /** Requests handled at once (default 1 024); beyond, the answer is `Overloaded`. */
  maxInFlight?: number;
  /** Largest request in bytes (default: the NATS server's `max_payload`); beyond, `PayloadTooLarge`. */
  maxPayloadBytes?: number;
  /** `retryAfterMs` of an `Overloaded` answer (default 1 000). */
  overloadedRetryAfterMs?: number;
  /** `retryAfterMs` of the `NotOwner` answered to requests that arrive while closing (default 1 000). */
  closingRetryAfterMs?: number;
  /** A request could not be answered (the reply could not be published): for logs. */
  onError?: (err: RuntimeError) => void;
}

/** A node answering forwarded requests (`serveNode`). */
export interface NodeService {
  /** The subject it answers on. */
  readonly subject: string;
  /** Requests being handled now. */
  readonly inFlight: number;
  /**
   * Stops taking requests (the subject is unsubscribed: senders then get no responders, `NotOwner`),
   * answers those already received, and resolves once they are answered or after `timeoutMs`
   * (default 10 000), whichever comes first.
   */
  close(timeoutMs?: number): Promise<void>;
}

const DEFAULT_MAX_IN_FLIGHT = 1024;
/** NATS's own default `max_payload`, for a connection that has not said its server's yet. */
const NATS_DEFAULT_MAX_PAYLOAD = 1024 * 1024;
const DEFAULT_RETRY_AFTER_MS = 1000;
const DEFAULT_CLOSE_TIMEOUT_MS = 10_000;
/** What a `NotOwner` after no responders says to wait: about a lease (the group's default), the time the partition takes to move. */
const DEFAULT_LEASE_MS = 3000;

/** Starts answering the requests sent to `nodeId` of `group`; resolves once the server has the subscription. */
export async function serveNode(options: ServeNodeOptions): Promise<NodeService> {
  const o = resolveServeOptions(options);
  const service = new NodeServiceImpl(o);
  // The flush makes the subscription known to the server before the caller announces the node.
  await o.connection.flush();
  return service;
}

interface ResolvedServeOptions extends Required<Omit<ServeNodeOptions, 'maxPayloadBytes'>> {
  maxPayloadBytes: number | undefined;
}

function resolveServeOptions(o: ServeNodeOptions): ResolvedServeOptions {
  if (typeof o !== 'object' || o === null) invalidOptions('serveNode needs an options object');
  checkName('group', o.group);
  checkName('nodeId', o.nodeId);
  if (typeof o.connection?.subscribe !== 'function') invalidOptions('serveNode needs an open NATS connection');
  const h = o.handler as Partial<ForwardHandler> | undefined;
  if (typeof h?.execute !== 'function' || typeof h.load !== 'function' || typeof h.history !== 'function') invalidOptions('handler must have execute, load and history');
  if (o.onError !== undefined && typeof o.onError !== 'function') invalidOptions('onError must be a function');
  return {
    connection: o.connection,
    group: o.group,
    nodeId: o.nodeId,
    handler: o.handler,
    maxInFlight: int('maxInFlight', o.maxInFlight, 1, 1_000_000, DEFAULT_MAX_IN_FLIGHT),
    maxPayloadBytes: o.maxPayloadBytes === undefined ? undefined : int('maxPayloadBytes', o.maxPayloadBytes, 64, 64 * 1024 * 1024, 0),
    overloadedRetryAfterMs: int('overloadedRetryAfterMs', o.overloadedRetryAfterMs, 1, 3_600_000, DEFAULT_RETRY_AFTER_MS),
    closingRetryAfterMs: int('closingRetryAfterMs', o.closingRetryAfterMs, 1, 3_600_000, DEFAULT_RETRY_AFTER_MS),
    onError: o.onError ?? (() => {}),
  };
}

class NodeServiceImpl implements NodeService {
  readonly subject: string;
  readonly #o: ResolvedServeOptions;
  readonly #subscription: Subscription;
  readonly #inFlight = new Set<Promise<void>>();
  #closing: Promise<void> | undefined;

  constructor(o: ResolvedServeOptions) {
    this.#o = o;
    this.subject = nodeSubject(o.group, o.nodeId);
    // A callback, not the async iterator: each request starts at once, bounded by maxInFlight below,
    // instead of queueing unboundedly in the subscription behind a slow one.
    this.#subscription = o.connection.subscribe(this.subject, { callback: (err, msg) => this.#receive(err, msg) });
  }

  get inFlight(): number {
    return this.#inFlight.size;
  }

  close(timeoutMs = DEFAULT_CLOSE_TIMEOUT_MS): Promise<void> {
    this.#closing ??= this.#drain(timeoutMs);
    return this.#closing;
  }

  async #drain(timeoutMs: number): Promise<void> {
    // drain() unsubscribes and still delivers what the server sent before it took the UNSUB; those are
    // answered NotOwner (#receive), so no sender is left waiting for a timeout.
    await this.#subscription.drain().catch(() => {});
    if (this.#inFlight.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
      timer.unref();
    });
    await Promise.race([Promise.allSettled([...this.#inFlight]), deadline]);
    clearTimeout(timer);
  }

  #receive(err: Error | null, msg: Msg): void {
    if (err) {
      this.#o.onError(new RuntimeError(ErrorCodes.Unavailable, `forwarding subscription ${this.subject} failed: ${err.message}`, { subject: this.subject }, true));
      return;
    }
    // A publish without a reply subject asks nothing: there is no one to answer.
    if (!msg.reply) return;
    if (this.#closing) {
      this.#answer(msg, failure(new RuntimeError(ErrorCodes.NotOwner, `node ${this.#o.nodeId} is stopping: retry`, { owner: null, retryAfterMs: this.#o.closingRetryAfterMs }, true)));
      return;
    }
    const limit = this.#o.maxPayloadBytes ?? this.#o.connection.info?.max_payload ?? NATS_DEFAULT_MAX_PAYLOAD;
    if (msg.data.length > limit) {
      this.#answer(msg, failure(new RuntimeError(ErrorCodes.PayloadTooLarge, `the forwarded request is ${msg.data.length} bytes, more than the ${limit} this node takes`, { limitBytes: limit, sizeBytes: msg.data.length })));
      return;
    }
    if (this.#inFlight.size >= this.#o.maxInFlight) {
      this.#answer(msg, failure(new RuntimeError(ErrorCodes.Overloaded, `node ${this.#o.nodeId} has ${this.#o.maxInFlight} forwarded requests in flight; retry later`, { retryAfterMs: this.#o.overloadedRetryAfterMs }, true)));
      return;
    }
    let request: RequestEnvelope;
    try {
      request = decodeRequest(msg.data);
    } catch (e) {
      this.#answer(msg, failure(e));
      return;
    }
    const handled: Promise<void> = this.#handle(request).then(
      (result) => this.#answer(msg, { v: FORWARD_PROTOCOL_VERSION, ok: true, result }, request),
      (e: unknown) => this.#answer(msg, failure(e)),
    );
    this.#inFlight.add(handled);
    void handled.finally(() => this.#inFlight.delete(handled));
  }

  #handle(r: RequestEnvelope): Promise<unknown> {
    const h = this.#o.handler;
    // Wrapped so a handler that throws instead of rejecting is answered the same way.
    return Promise.resolve().then((): Promise<unknown> => {
      switch (r.op) {
        case 'execute':
          return h.execute(r.aggregateType, r.id, r.command, r.options ?? {});
        case 'load':
          return r.query === undefined ? h.load(r.aggregateType, r.id) : h.load(r.aggregateType, r.id, r.query);
        case 'history':
          return h.history(r.aggregateType, r.id, r.from, r.limit);
        case 'diff':
          if (h.diff === undefined) throw notTaken(r.op, this.#o.nodeId, ErrorCodes.InvalidQuery);
          return h.diff(r.aggregateType, r.id, r.from, r.to);
        case 'lifecycle':
          if (h.lifecycle === undefined) throw notTaken(r.op, this.#o.nodeId, ErrorCodes.InvalidCommand);
          return h.lifecycle(r);
        case 'audit':
          if (h.audit === undefined) throw notTaken(r.op, this.#o.nodeId, ErrorCodes.InvalidCommand);
          return h.audit(r.record, r.commandId);
        default:
          return unreachable(r);
      }
    });
  }

  /** Sends `reply`; one larger than the server takes becomes an error that says what happened. */
  #answer(msg: Msg, reply: object, request?: RequestEnvelope): void {
    let data: Uint8Array;
    try {
      data = encodeJson(reply);
    } catch (e) {
      // A result JSON cannot carry (a BigInt, a cycle): a handler bug, answered rather than left to time out.
      data = encodeJson(failure(new RuntimeError(ErrorCodes.Internal, `the answer to a forwarded ${request?.op ?? 'request'} is not JSON: ${(e as Error).message}${request?.op === 'execute' ? ' (the command was applied)' : ''}`)));
    }
    const limit = this.#o.connection.info?.max_payload ?? NATS_DEFAULT_MAX_PAYLOAD;
    if (data.length > limit) {
      const version = (reply as { result?: { version?: unknown } }).result?.version;
      const applied = request?.op === 'execute';
      const message = applied
        ? `the command was applied (version ${String(version)}), but its answer is ${data.length} bytes, more than NATS carries (${limit}): read the state with a load or the history`
        : `the answer is ${data.length} bytes, more than NATS carries (${limit}): ask for a smaller page`;
      data = encodeJson(failure(new RuntimeError(ErrorCodes.PayloadTooLarge, message, { limitBytes: limit, sizeBytes: data.length, ...(applied ? { applied: true, version } : {}) })));
    }
    try {
      msg.respond(data);
    } catch (e) {
      // The connection is closed or the sender's inbox is gone; the sender times out.
      this.#o.onError(new RuntimeError(ErrorCodes.Unavailable, `cannot answer a forwarded request on ${this.subject}: ${(e as Error).message}`, { subject: this.subject }, true));
    }
  }
}

/**
 * The `NotOwner` for a partition this node does not serve: from a handler (it lost the partition, or
 * never had it; `owner` the member it believes owns it) or from a forwarder that knows no owner
 * (`owner` null: the lease is free or lapsed). One constructor, so every such answer reads alike.
 */
export function notOwner(partition: number, owner: string | null, retryAfterMs: number): RuntimeError {
  const who = owner === null ? 'no member serves it now (changing hands)' : `it is served by ${owner}`;
  return new RuntimeError(ErrorCodes.NotOwner, `partition ${partition} is not served here: ${who}; retry`, { partition, owner, retryAfterMs }, true);
}

/** A request of a kind this node's handler does not take (a handler written before the kind was added). */
function notTaken(op: string, nodeId: string, code: typeof ErrorCodes.InvalidQuery | typeof ErrorCodes.InvalidCommand): RuntimeError {
  return new RuntimeError(code, `node ${nodeId} does not take forwarded ${op} requests`, { op });
}

function failure(err: unknown): object {
  return { v: FORWARD_PROTOCOL_VERSION, ok: false, error: serializeError(err) };
}

function unreachable(x: never): never {
  throw new RuntimeError(ErrorCodes.Internal, `unreachable: ${JSON.stringify(x)}`);
}

// --- the sending side -------------------------------------------------------------------------------

export interface ForwardOptions<R extends ForwardRequest> {
  connection: NatsConnection;
  group: string;
  /** The node believed to own the request's partition (`PartitionGroup.ownerOf(p).nodeId`). */
  nodeId: string;
  request: R;
  /** How long to wait for the answer; after it, the outcome is unknown (see the module header). */
  timeoutMs: number;
  /** This node's id, carried in the request for the owner's logs. */
  origin?: string;
  /** `retryAfterMs` of the `NotOwner` answered when the node is gone (default 3 000: the group's default lease). */
  leaseMs?: number;
}

/**
 * Sends `request` to node `nodeId` and answers its handler's result, or rejects with a `RuntimeError`:
 * the owner's own error as it sent it; `NotOwner` when no node answers the subject (nothing was done);
 * `Unavailable` on a timeout (for a command, with `outcome: 'unknown'`: it may have been applied);
 * `InvalidCommand`/`InvalidQuery`/`PayloadTooLarge` for a request that cannot be sent (nothing sent).
 */
export async function forwardTo<R extends ForwardRequest>(o: ForwardOptions<R>): Promise<ForwardResult<R>> {
  checkName('group', o.group);
  checkName('nodeId', o.nodeId);
  const timeoutMs = int('timeoutMs', o.timeoutMs, 1, 3_600_000, 0);
  const leaseMs = int('leaseMs', o.leaseMs, 1, 3_600_000, DEFAULT_LEASE_MS);
  // The frame last: a request object cannot set its own version or hop count.
  const envelope = checkRequest({ ...o.request, v: FORWARD_PROTOCOL_VERSION, hops: MAX_HOPS, ...(o.origin !== undefined ? { origin: o.origin } : {}) });
  const data = encodeJson(envelope);
  const limit = o.connection.info?.max_payload ?? NATS_DEFAULT_MAX_PAYLOAD;
  if (data.length > limit) {
    throw new RuntimeError(ErrorCodes.PayloadTooLarge, `the request is ${data.length} bytes, more than NATS carries (${limit})`, { limitBytes: limit, sizeBytes: data.length });
  }
  let answer: Msg;
  try {
    answer = await o.connection.request(nodeSubject(o.group, o.nodeId), data, { timeout: timeoutMs });
  } catch (err) {
    throw transportError(err, o.request.op, o.nodeId, timeoutMs, leaseMs);
  }
  const reply = decodeReply(answer.data, o.nodeId);
  if (reply.ok) return reply.result as ForwardResult<R>;
  throw deserializeError(reply.error);
}

/** Names of the NATS client's errors (matched by name: errors are never checked with instanceof here). */
function natsErrorName(err: unknown): { name: string; cause: string } {
  const e = err as { name?: unknown; cause?: { name?: unknown } } | null;
  return { name: typeof e?.name === 'string' ? e.name : '', cause: typeof e?.cause?.name === 'string' ? e.cause.name : '' };
}

function transportError(err: unknown, op: ForwardRequest['op'], nodeId: string, timeoutMs: number, leaseMs: number): RuntimeError {
  const { name, cause } = natsErrorName(err);
  // The client names the cause `NoResponders` (its class is NoRespondersError): accept both.
  if (/^NoResponders(?:Error)?$/.test(name) || /^NoResponders(?:Error)?$/.test(cause)) {
    // No subscriber: the member is gone (or not serving yet). Nothing was done; the partition moves
    // within about a lease, so that is when a retry finds the new owner.
    return new RuntimeError(ErrorCodes.NotOwner, `node ${nodeId}, the partition's owner as last seen, is not answering (gone or changing hands): retry`, { owner: nodeId, retryAfterMs: leaseMs }, true);
  }
  if (name === 'ClosedConnectionError' || name === 'DrainingConnectionError') {
    return new RuntimeError(ErrorCodes.Unavailable, `cannot forward to node ${nodeId}: this server's NATS connection is closed; nothing was sent`, { owner: nodeId, retryAfterMs: DEFAULT_RETRY_AFTER_MS }, true);
  }
  const why = name === 'TimeoutError' || cause === 'TimeoutError' ? `did not answer within ${timeoutMs} ms` : `could not be reached (${String((err as Error | undefined)?.message ?? err).slice(0, 200)})`;
  if (op === 'execute' || op === 'lifecycle' || op === 'audit') {
    return new RuntimeError(
      ErrorCodes.Unavailable,
      `node ${nodeId}, the partition's owner, ${why}: the command may or may not have been applied. Retry with the same commandId (a command sent without one cannot be retried safely: send commandIds in cluster mode)`,
      { owner: nodeId, outcome: 'unknown', retryAfterMs: DEFAULT_RETRY_AFTER_MS },
      true,
    );
  }
  return new RuntimeError(ErrorCodes.Unavailable, `node ${nodeId}, the partition's owner, ${why}: retry`, { owner: nodeId, retryAfterMs: DEFAULT_RETRY_AFTER_MS }, true);
}

// --- options ----------------------------------------------------------------------------------------

function checkName(what: string, v: unknown): void {
  // They become subject tokens: a dot, a space or a wildcard would address other subjects.
  if (typeof v !== 'string' || !NAME_PATTERN.test(v)) invalidOptions(`${what} must match [A-Za-z0-9_-]{1,64}, got ${JSON.stringify(String(v).slice(0, 80))}`);
}

function int(what: string, v: unknown, min: number, max: number, dflt: number): number {
  if (v === undefined && dflt > 0) return dflt;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) invalidOptions(`${what} must be an integer in [${min}, ${max}], got ${String(v)}`);
  return v;
}

function invalidOptions(message: string): never {
  throw new RuntimeError(ErrorCodes.InvalidOptions, message);
}
