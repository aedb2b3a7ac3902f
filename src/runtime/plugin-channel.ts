/**
 * The main-thread end of worker plugins (worker-plugin.ts has the worker end): requests to one worker's
 * or every worker's instance of a plugin, and the events plugins post, fanned out to listeners by plugin
 * name. The runtime knows no plugin: a layer above (the projection engine's `Views`) names its own.
 *
 * Gotchas:
 * - Request ids come from the runtime's one counter (`nextRid`): a worker slot matches replies by id, so
 *   ids must be unique per slot across commands, loads, stats and plugin requests.
 * - A listener's throw propagates into the slot's message handler; listeners are the plugin's own code.
 */
import { ErrorCodes, RuntimeError } from '../kernel/index.js';
import type { WorkerSlot } from './worker-slot.js';

export interface PluginChannel {
  /** Sends `payload` to the plugin in one worker; resolves with what its `onRequest` returned. */
  request<T>(worker: number, payload: unknown): Promise<T>;
  /** Sends `payload` to the plugin in every worker; resolves with the answers in worker order. */
  broadcast<T>(payload: unknown): Promise<T[]>;
  /** Events the plugin posts (`ctx.emit`) from any worker. Returns an unsubscribe. */
  on(listener: PluginListener): () => void;
}

export type PluginListener = (worker: number, payload: unknown) => void;

export class PluginChannels {
  readonly #slots: readonly WorkerSlot[];
  readonly #nextRid: () => number;
  readonly #listeners = new Map<string, Set<PluginListener>>();

  /** `slots` may still be filling: it is read at each request, not copied. */
  constructor(slots: readonly WorkerSlot[], nextRid: () => number) {
    this.#slots = slots;
    this.#nextRid = nextRid;
  }

  /** A worker's plugin posted an event (the slot's `onPluginEvent` hook). */
  dispatch(worker: number, plugin: string, payload: unknown): void {
    for (const l of this.#listeners.get(plugin) ?? []) l(worker, payload);
  }

  channel(name: string): PluginChannel {
    const send = <T>(slot: WorkerSlot, payload: unknown): Promise<T> => {
      const rid = this.#nextRid();
      return slot.request<T>(rid, { kind: 'plugin', rid, plugin: name, payload });
    };
    return {
      request: <T>(worker: number, payload: unknown) => {
        const slot = this.#slots[worker];
        if (!slot) return Promise.reject(new RuntimeError(ErrorCodes.InvalidQuery, `no worker ${worker}`));
        return send<T>(slot, payload);
      },
      broadcast: <T>(payload: unknown) => Promise.all(this.#slots.map((s) => send<T>(s, payload))),
      on: (listener) => {
        let set = this.#listeners.get(name);
        if (!set) this.#listeners.set(name, (set = new Set()));
        set.add(listener);
        return () => set.delete(listener);
      },
    };
  }
}
