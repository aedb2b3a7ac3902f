/**
 * An actor host run on the main thread, behind the same message interface as a worker thread, for
 * logs that cannot be shared across threads (the in-memory log: `createRuntime({ log: 'memory' })`).
 * The worker slot talks to it exactly as to a `Worker`: messages in both directions are delivered on a
 * later turn (never synchronously, as with a real thread), so no caller sees re-entrant replies.
 *
 * What it gives up: parallelism (every partition's commands run on the main thread) and isolation (a
 * decider that hangs blocks everything; one that calls process.exit ends the process). Fine for tests,
 * examples and embedders who want no disk; not for production loads.
 */
import { EventEmitter } from 'node:events';
import { serializeError } from '../kernel/index.js';
import type { EventLog } from '../log/index.js';
import { ActorHost } from './actor-host.js';
import type { ActorHostConfig, FromWorker, ToWorker } from './protocol.js';

/** The part of `node:worker_threads`' Worker a worker slot uses. */
export interface ThreadLike {
  postMessage(message: ToWorker, transfer?: readonly ArrayBuffer[]): void;
  on(event: 'message', listener: (m: FromWorker) => void): this;
  on(event: 'error', listener: (err: Error) => void): this;
  on(event: 'exit', listener: (code: number) => void): this;
  terminate(): Promise<number>;
}

export class InlineThread extends EventEmitter implements ThreadLike {
  #host: ActorHost | null = null;
  #exited = false;
  /** Messages that arrive while the host starts: handled in order once it is up. */
  #early: ToWorker[] | null = [];

  constructor(config: ActorHostConfig, log: EventLog) {
    super();
    // What the host sends in one turn arrives as one message on a later turn, as from a worker thread
    // (workers/actor-host.ts): a commit's replies together with its views' progress.
    let outbox: FromWorker[] = [];
    const send = (m: FromWorker): void => {
      if (this.#exited || outbox.push(m) > 1) return;
      queueMicrotask(() => {
        const messages = outbox;
        outbox = [];
        const one = messages.length === 1 ? messages[0]! : ({ kind: 'batch', messages } satisfies FromWorker);
        setImmediate(() => this.#exited || this.emit('message', one));
      });
    };
    ActorHost.start(config, send, log).then(
      (host) => {
        this.#host = host;
        const early = this.#early ?? [];
        this.#early = null;
        for (const m of early) host.handle(m);
      },
      (err: unknown) => send({ kind: 'fatal', error: serializeError(err) }),
    );
  }

  postMessage(message: ToWorker): void {
    if (this.#exited) return;
    // A later turn, as a thread would: the sender's turn (and its batching) finishes first.
    setImmediate(() => {
      if (this.#exited) return;
      if (this.#early) this.#early.push(message);
      else this.#host?.handle(message);
    });
  }

  /** Nothing native to stop: the host has closed its handles (or never opened any) by now. */
  terminate(): Promise<number> {
    if (!this.#exited) {
      this.#exited = true;
      setImmediate(() => this.emit('exit', 0));
    }
    return Promise.resolve(0);
  }
}
