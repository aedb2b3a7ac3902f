/**
 * The main side of the encode pool: a piscina pool of `maxJobs` threads, one task per thread, each task
 * one encode attempt that drives ffmpeg child processes.
 *
 * Why threads for work that runs in ffmpeg processes: the probe/encode/rename/fsync sequence, progress
 * parsing and file I/O of several jobs stay off the main thread, which serves HTTP and routes commands.
 * The bound on concurrent encodes is the thread count (`maxThreads`, `concurrentTasksPerWorker: 1`);
 * the reactor never has more than `maxJobs` tasks out, and `maxQueue` (= maxJobs) makes piscina refuse
 * rather than silently queue if that ever broke.
 *
 * Gotchas:
 * - Cancel by message, never by piscina's AbortSignal: piscina aborts a task by terminating its
 *   thread, which would leave the ffmpeg child running, orphaned, still writing.
 * - `gauge` is a SharedArrayBuffer of [running, high-water mark] updated by the tasks themselves.
 */
import { MessageChannel } from 'node:worker_threads';
import { Piscina } from 'piscina';
import type { Rendition } from '../domain/index.js';
import { taskModule } from '../runtime/index.js';
import type { EncodeJobInput, EncodeOutcome, EncodeTask, EncodeTaskControl, EncodeTaskMessage } from './encode-protocol.js';

export interface RunningEncode {
  readonly result: Promise<EncodeOutcome>;
  /** Asks the task to kill its ffmpeg; `result` then resolves `{ kind: 'cancelled' }`. */
  cancel(): void;
}

export interface EncodeListener {
  progress(percent: number): void;
  rendition(rendition: Rendition): void;
}

export interface EncodePoolOptions {
  maxJobs: number;
  /** A thread idle this long exits (default 30 s). */
  idleTimeoutMs?: number;
}

export class EncodePool {
  readonly maxJobs: number;
  #pool: Piscina<EncodeTask, EncodeOutcome>;
  #gauge = new Int32Array(new SharedArrayBuffer(8));

  constructor(options: EncodePoolOptions) {
    this.maxJobs = options.maxJobs;
    const entry = taskModule('encode-task');
    this.#pool = new Piscina<EncodeTask, EncodeOutcome>({
      filename: entry.filename,
      ...(entry.workerData ? { workerData: entry.workerData } : {}),
      minThreads: 0,
      maxThreads: options.maxJobs,
      concurrentTasksPerWorker: 1,
      maxQueue: options.maxJobs,
      idleTimeout: options.idleTimeoutMs ?? 30_000,
    });
  }

  run(job: EncodeJobInput, listener: EncodeListener): RunningEncode {
    const { port1, port2 } = new MessageChannel();
    port1.on('message', (m: EncodeTaskMessage) => {
      if (m.kind === 'progress') listener.progress(m.percent);
      else listener.rendition(m.rendition);
    });
    const result = this.#pool.run({ job, port: port2, gauge: this.#gauge.buffer as SharedArrayBuffer }, { transferList: [port2] }).finally(() => port1.close());
    return {
      result,
      cancel: () => {
        try {
          port1.postMessage({ kind: 'cancel' } satisfies EncodeTaskControl);
        } catch {
          // The task already finished and the port is closed.
        }
      },
    };
  }

  /** Tasks running in pool threads right now (counted by the tasks). */
  get running(): number {
    return Atomics.load(this.#gauge, 0);
  }

  /** The most tasks that ever ran at once in this pool. */
  get maxObservedRunning(): number {
    return Atomics.load(this.#gauge, 1);
  }

  get threads(): number {
    return this.#pool.threads.length;
  }

  /** Ends the threads; call after every task has settled (the reactor cancels them first). */
  async close(): Promise<void> {
    await this.#pool.destroy();
  }
}
