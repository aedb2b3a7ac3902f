/**
 * Cluster mode in the HTTP routes: any server answers any request with the same HTTP contract
 * (docs/cluster.md, "Forwarding"). The routes ask their own runtime first; when it refuses with
 * `NotOwner` naming another member as the owner, the request is forwarded to that member over NATS
 * (`runtime.cluster.forward`) and its answer is the answer: same status, same body shape, its errors
 * through the one error mapping (error-status.ts). And this server answers the requests other members
 * forward to it (`start()`), from its own runtime only.
 *
 * What a client sees, by case:
 * - this server serves the partition: the local answer, as on the embedded server;
 * - another member owns it: that member's answer (`x-eventide-forwarded-to` names it);
 * - no owner known (free, lapsed, changing hands): this server's own `NotOwner`, 503 + Retry-After;
 * - the owner is gone (no responders), or it refused too (a handover): `NotOwner`, 503 + Retry-After;
 * - a forwarded command not answered in time: 503 `Unavailable` with `outcome: "unknown"`: retry with
 *   the same `commandId`.
 *
 * Gotchas:
 * - The handler answers from this node's runtime and never forwards again (one hop, forward-protocol.ts):
 *   during a handover two members may each name the other, and a second hop would bounce.
 * - The handler takes only public commands, as the HTTP route does (DESIGN invariant 11): a forwarded
 *   request came in over HTTP somewhere, and whoever can publish on NATS must not reach internal ones.
 * - A stream deletion (`/admin/streams/...`) is forwarded like a command: admin auth was checked where
 *   it arrived, and `by` (the asker's token name) travels with it. The owner records it in the audit
 *   stream itself, sending the record to the audit stream's owner when that is another member
 *   (runtime/cluster-node.ts `recordAudit`); this handler answers such records (`audit`).
 */
import { ErrorCodes, RuntimeError } from '../kernel/index.js';
import type { AnyDecider } from '../domain/index.js';
import type { ClusterLink, ExecuteOptions, ForwardHandler, LoadOptions, LoadQueryJson, Runtime } from '../runtime/index.js';
import { diffBody, historyPage, stateBody, type DiffReply, type HistoryReply, type StateReply } from './aggregate-reads.js';
import { commandReply, type CommandReplyJson } from './envelope-json.js';
import { publicCommandsOf, unknownCommand } from './routes/command-schema.js';
import { streamLifecycle, type StreamLifecycleReply, type StreamLifecycleRequest } from './stream-lifecycle.js';

/** The header naming the member that answered a forwarded request (for operators and tests; the body is the owner's). */
export const FORWARDED_TO_HEADER = 'x-eventide-forwarded-to';

/** A forwarded request's answer, and the member that gave it. */
export interface Forwarded<T> {
  owner: string;
  body: T;
}

export class ClusterRouting {
  readonly #runtime: Runtime;
  readonly #cluster: ClusterLink;
  readonly #publicCommands = new Map<string, string[]>();

  constructor(runtime: Runtime, cluster: ClusterLink) {
    this.#runtime = runtime;
    this.#cluster = cluster;
  }

  get nodeId(): string {
    return this.#cluster.nodeId;
  }

  /** Starts answering the requests other members forward to this server (opens the node's forwarding connection). */
  start(): Promise<void> {
    return this.#cluster.serve(this.#handler());
  }

  /**
   * After the runtime refused a command with `refusal`: the owner's answer when the refusal names
   * another member, else `refusal` again (thrown).
   */
  async command(refusal: unknown, type: string, id: string, command: { type: string; data?: unknown }, options: ExecuteOptions): Promise<Forwarded<CommandReplyJson>> {
    const owner = this.#ownerAfter(refusal);
    const body = await this.#cluster.forward(owner, { op: 'execute', aggregateType: type, id, command, ...(hasAny(options) ? { options } : {}) });
    return { owner, body };
  }

  /** After the runtime refused a load with `refusal`: the owner's answer, or `refusal` again. */
  async state(refusal: unknown, type: string, id: string, options: LoadOptions): Promise<Forwarded<StateReply>> {
    const owner = this.#ownerAfter(refusal);
    const query = loadQuery(options);
    const body = await this.#cluster.forward(owner, { op: 'load', aggregateType: type, id, ...(query ? { query } : {}) });
    return { owner, body };
  }

  /** After the runtime refused a history page with `refusal`: the owner's answer, or `refusal` again. */
  async history(refusal: unknown, type: string, id: string, from: number | undefined, limit: number): Promise<Forwarded<HistoryReply>> {
    const owner = this.#ownerAfter(refusal);
    const body = await this.#cluster.forward(owner, { op: 'history', aggregateType: type, id, ...(from === undefined ? {} : { from }), limit });
    return { owner, body };
  }

  /** After the runtime refused a diff with `refusal`: the owner's answer, or `refusal` again. `from`/`to` as the route took them. */
  async diff(refusal: unknown, type: string, id: string, from: string, to: string): Promise<Forwarded<DiffReply>> {
    const owner = this.#ownerAfter(refusal);
    const body = await this.#cluster.forward(owner, { op: 'diff', aggregateType: type, id, from, to });
    return { owner, body };
  }

  /** After the runtime refused a stream deletion or undelete with `refusal`: the stream owner's answer, or `refusal` again. */
  async lifecycle(refusal: unknown, type: string, id: string, r: StreamLifecycleRequest): Promise<Forwarded<StreamLifecycleReply>> {
    const owner = this.#ownerAfter(refusal);
    const options = { ...(r.commandId !== undefined ? { commandId: r.commandId } : {}), ...(r.expectedVersion !== undefined ? { expectedVersion: r.expectedVersion } : {}) };
    const body = await this.#cluster.forward(owner, {
      op: 'lifecycle',
      aggregateType: type,
      id,
      action: r.action,
      by: r.by,
      ...(r.hard !== undefined ? { hard: r.hard } : {}),
      ...(hasAny(options) ? { options } : {}),
    });
    return { owner, body };
  }

  /** The member a refusal sends the request to: the owner a `NotOwner` names, when it is another member. Else throws `err`. */
  #ownerAfter(err: unknown): string {
    if (RuntimeError.is(err, ErrorCodes.NotOwner)) {
      const owner = err.details.owner;
      if (typeof owner === 'string' && owner !== this.#cluster.nodeId) return owner;
    }
    throw err;
  }

  /** What this server answers to forwarded requests: the routes' own bodies, from this runtime alone. */
  #handler(): ForwardHandler {
    const runtime = this.#runtime;
    return {
      execute: async (type, id, command, options) => {
        const decider = runtime.decider(type);
        if (decider !== undefined) {
          const known = this.#publicOf(type, decider);
          if (!known.includes(command.type)) throw unknownCommand(command.type, known);
        }
        return commandReply(await runtime.execute(type, id, { type: command.type, data: command.data ?? {} }, options), runtime.partitionCount);
      },
      load: (type, id, query) => stateBody(runtime, type, id, query ?? {}),
      history: (type, id, from, limit) => historyPage(runtime, type, id, from, limit ?? DEFAULT_PAGE),
      diff: (type, id, from, to) => diffBody(runtime, type, id, from, to),
      lifecycle: (r) =>
        streamLifecycle(runtime, r.aggregateType, r.id, {
          action: r.action,
          by: r.by ?? null,
          ...(r.hard !== undefined ? { hard: r.hard } : {}),
          ...(r.options?.commandId !== undefined ? { commandId: r.options.commandId } : {}),
          ...(r.options?.expectedVersion !== undefined ? { expectedVersion: r.options.expectedVersion } : {}),
        }),
      // The protocol's schema admits stream deletions' records only (forward-protocol.ts `FORWARDED_AUDIT_KINDS`).
      audit: async (record, commandId) => {
        const r = await runtime.audit(record.kind, { target: record.target, by: record.by ?? null, ...(record.details !== undefined ? { details: record.details } : {}) }, { commandId });
        return { version: r.version, ...(r.duplicate ? { duplicate: true as const } : {}) };
      },
    };
  }

  #publicOf(type: string, decider: AnyDecider): string[] {
    let known = this.#publicCommands.get(type);
    if (known === undefined) this.#publicCommands.set(type, (known = publicCommandsOf(decider)));
    return known;
  }
}

/** The events route's default page (its query schema's `limit` default). */
export const DEFAULT_PAGE = 100;

function hasAny(options: Partial<ExecuteOptions>): boolean {
  return options.expectedVersion !== undefined || options.commandId !== undefined || options.correlationId !== undefined || options.causationId !== undefined;
}

/** The route's load options as the protocol carries them (`at` as the route took it: epoch ms or ISO-8601). */
function loadQuery(options: LoadOptions): LoadQueryJson | undefined {
  if (options.version !== undefined) return { version: options.version };
  // The routes pass `at` as they parsed it (epoch ms or ISO-8601), never a Date.
  if (typeof options.at === 'number' || typeof options.at === 'string') return { at: options.at };
  return undefined;
}
