/**
 * The main thread's side of the reader thread (chunk-reader.ts says why there is one; the thread's side is
 * chunk-reader-worker.ts). Started when the first feed client connects (`start`, or the first read), so a
 * server nobody subscribes to runs no extra thread; reads are answered in the order asked (the thread
 * reads one at a time).
 *
 * Why short reads go to `fallback` (the main thread) until the thread says it is ready: starting it (a
 * module graph to load, the log to open) takes a few hundred milliseconds, seconds on a loaded machine,
 * and a client's first catch-up waited for all of it. A client that had reconnected was meanwhile sent
 * nothing, then everything at once; the commands committed during the wait reached it late. What such a
 * client lacks is short (what was committed while it reconnected), and reading that here costs well under
 * a millisecond. Longer reads (a catch-up from far behind, the thread's reason to be) still wait for the
 * thread: read here, they would hold the main thread for milliseconds each, all the while it starts.
 *
 * Failures: a read the log refuses (damage) rejects with that error, and the reads after it go on. A log
 * the thread cannot open fails every read with that error (the clients are closed with 1011 and the
 * reason). A thread that dies fails the reads it held; the next read starts a new one.
 *
 * Gotchas: the thread is never terminated while it may be inside LMDB (nodejs/node #34567): `close` asks
 * it to close its log and terminates it only once it said so (or after a timeout, as the actor hosts do).
 */
import type { Worker } from 'node:worker_threads';
import { deserializeError, ErrorCodes, RuntimeError } from '../../kernel/index.js';
import { spawnWorker } from '../../runtime/index.js';
import { closedError, type ChunkReader, type ChunkReaderConfig, type FromChunkReader, type ToChunkReader } from './chunk-reader.js';
import type { ChunkData } from './encoded-chunk.js';

interface Pending {
  resolve(data: ChunkData): void;
  reject(err: unknown): void;
}

const CLOSE_TIMEOUT_MS = 10_000;
/** Reads of at most this many events go to the main thread while the thread starts (a few hundred microseconds). */
export const FALLBACK_MAX_EVENTS = 128;

export class ThreadChunkReader implements ChunkReader {
  readonly #config: ChunkReaderConfig;
  readonly #fallback: ChunkReader;
  readonly #pending = new Map<number, Pending>();
  #worker: Worker | null = null;
  /** The current thread opened the log (reads go to it from then on). */
  #ready = false;
  #fatal: RuntimeError | null = null;
  #onClosed: (() => void) | null = null;
  #nextId = 0;
  #closed = false;

  /** `fallback` makes short reads while the thread starts. */
  constructor(config: ChunkReaderConfig, fallback: ChunkReader) {
    this.#config = config;
    this.#fallback = fallback;
  }

  get onThread(): boolean {
    return this.#ready && !this.#closed;
  }

  start(): void {
    if (!this.#closed && !this.#fatal && !this.#worker) this.#start();
  }

  read(partition: number, from: number, to: number): Promise<ChunkData> {
    if (this.#closed) return Promise.reject(closedError());
    if (this.#fatal) return Promise.reject(this.#fatal);
    const worker = this.#worker ?? this.#start();
    if (!this.#ready && to - from <= FALLBACK_MAX_EVENTS) return this.#fallback.read(partition, from, to);
    const id = ++this.#nextId;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      worker.postMessage({ kind: 'read', id, partition, from, to } satisfies ToChunkReader);
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const worker = this.#worker;
    this.#failPending(closedError());
    await this.#fallback.close();
    if (!worker) return;
    const closed = new Promise<void>((resolve) => (this.#onClosed = resolve));
    worker.postMessage({ kind: 'close' } satisfies ToChunkReader);
    const timer = setTimeout(() => this.#onClosed?.(), CLOSE_TIMEOUT_MS);
    await closed;
    clearTimeout(timer);
    await worker.terminate();
  }

  #start(): Worker {
    const worker = spawnWorker('feed-reader', { config: this.#config });
    // Idle, it must not keep the process alive; while reads are pending their sockets do.
    worker.unref();
    worker.on('message', (m: FromChunkReader) => this.#answer(m));
    worker.on('error', (err) => this.#failPending(err));
    worker.on('exit', (code) => {
      if (this.#worker === worker) {
        this.#worker = null;
        this.#ready = false;
      }
      this.#failPending(new RuntimeError(ErrorCodes.WorkerCrashed, `the feed's reader thread exited (${code})`));
      this.#onClosed?.();
    });
    this.#worker = worker;
    return worker;
  }

  #answer(m: FromChunkReader): void {
    if (m.kind === 'ready') {
      this.#ready = true;
      return;
    }
    if (m.kind === 'closed') return this.#onClosed?.();
    if (m.kind === 'fatal') {
      this.#fatal = deserializeError(m.error);
      return this.#failPending(this.#fatal);
    }
    const pending = this.#pending.get(m.id);
    if (!pending) return;
    this.#pending.delete(m.id);
    if (m.kind === 'chunk') pending.resolve(m.data);
    else pending.reject(deserializeError(m.error));
  }

  #failPending(err: unknown): void {
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const p of pending) p.reject(err);
  }
}
