/**
 * The worker plugins of one actor host (worker-plugin.ts says what a plugin is): loads them, hands them
 * each batch's appends and its end while the batch is assembled, the moved heads once it is durable, and
 * the main thread's requests.
 *
 * Why every call is guarded: a plugin's bug must never fail a command or a commit; it is reported to the
 * main thread (a `plugin-error` plugin event) instead.
 */
import { ErrorCodes, RuntimeError, serializeError, type EventEnvelope } from '../kernel/index.js';
import type { Staged } from '../log/index.js';
import type { FromWorker } from './protocol.js';
import type { WorkerPlugin, WorkerPluginContext, WorkerPluginFactory, WorkerPluginSpec } from './worker-plugin.js';

export class PluginHost {
  readonly #plugins: WorkerPlugin[] = [];
  readonly #send: (m: FromWorker) => void;

  constructor(send: (m: FromWorker) => void) {
    this.#send = send;
  }

  /** Loads the plugins in order; each gets `context` and its own emitter. */
  async load(specs: readonly WorkerPluginSpec[], context: Omit<WorkerPluginContext, 'emit'>): Promise<void> {
    for (const spec of specs) {
      const factory = ((await import(spec.module)) as { default: WorkerPluginFactory }).default;
      let self: WorkerPlugin | undefined;
      const ctx: WorkerPluginContext = { ...context, emit: (payload: unknown) => this.#send({ kind: 'plugin-event', plugin: self?.name ?? spec.module, payload }) };
      self = await factory(ctx, spec.options);
      this.#plugins.push(self);
    }
  }

  /** Answers a request from the main thread with a `reply` (a plugin that is not there: NotFound). */
  async request(rid: number, name: string, payload: unknown): Promise<void> {
    try {
      const plugin = this.#plugins.find((p) => p.name === name);
      if (!plugin?.onRequest) throw new RuntimeError(ErrorCodes.NotFound, `no worker plugin ${JSON.stringify(name)}`);
      const result = await plugin.onRequest(payload);
      this.#send({ kind: 'reply', reply: { rid, ok: true, result } });
    } catch (err) {
      this.#send({ kind: 'reply', reply: { rid, ok: false, error: serializeError(err) } });
    }
  }

  /**
   * Inside a batch's commit (the writer's `alsoInBatch`): `onAppend` for each command's events, then
   * `onBatchEnd`, so what the plugins write joins the batch (see worker-plugin.ts).
   */
  joinBatch(staged: readonly Staged[]): void {
    for (const s of staged) if (s.events) this.#appended(s.events);
    this.#callPlugins((p) => p.onBatchEnd?.());
  }

  /** Once per durable batch that was committed (so exactly once per `onBatchEnd`), in batch order. */
  committed(heads: Map<number, number>): void {
    this.#callPlugins((p) => p.onCommitted?.(heads));
  }

  /** Cluster mode: events of `partition` up to `head` were applied from the log of record (worker-plugin.ts). */
  followed(partition: number, head: number): void {
    this.#callPlugins((p) => p.onFollowed?.(partition, head));
  }

  async close(): Promise<void> {
    for (const p of this.#plugins) await p.close?.();
  }

  /** `onAppend` for one command's events (the hot path: no closure per command). */
  #appended(events: readonly EventEnvelope[]): void {
    for (const p of this.#plugins) {
      if (!p.onAppend) continue;
      try {
        p.onAppend(events);
      } catch (err) {
        this.#failed(p, err);
      }
    }
  }

  #callPlugins(call: (p: WorkerPlugin) => void): void {
    for (const p of this.#plugins) {
      try {
        call(p);
      } catch (err) {
        this.#failed(p, err);
      }
    }
  }

  #failed(p: WorkerPlugin, err: unknown): void {
    this.#send({ kind: 'plugin-event', plugin: p.name, payload: { type: 'plugin-error', error: serializeError(err) } });
  }
}
