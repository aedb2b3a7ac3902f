/**
 * Who may add encode work, and how much: a bound on the videos queued for encoding (uploads being
 * received count too), and a quota per client on queued encode seconds. Both are answered before the
 * upload is recorded, so a refused upload leaves nothing in the log or on disk.
 *
 * - Queue full -> `Overloaded` (503, Retry-After): the server as a whole has enough work; checked
 *   before the first byte of the body is read.
 * - Quota -> `QuotaExceeded` (429, Retry-After): this client has enough work queued. The seconds of a
 *   video are its probed duration plus the margin ffmpeg may read (`encodeLimitSec`), known once the
 *   upload is stored and probed; a client already at its quota is refused before the body is read.
 *   A file ffprobe cannot read counts 0 s: its encode fails at the probe and costs nothing.
 * - A video leaves the ledger when the log says it is done (succeeded, cancelled, failed for good).
 *
 * The client key is whatever the caller says (the HTTP route passes the remote address; a token name
 * can replace it). Gotchas: the ledger is in memory. After a restart, videos the log says are
 * unfinished count towards the queue bound (the reactor queues them) but towards no client's quota.
 */
import { ErrorCodes, RuntimeError } from '../kernel/index.js';

export interface EncodeAdmissionOptions {
  /** Videos waiting for or running an encode, plus uploads being received. */
  maxQueuedVideos: number;
  /** Encode seconds one client may have queued or running. */
  maxQueuedSecondsPerClient: number;
}

/** Retry-After hints: a queue drains in minutes, a client's own backlog more slowly. */
const QUEUE_FULL_RETRY_MS = 30_000;
const QUOTA_RETRY_MS = 60_000;

export class EncodeAdmission {
  readonly #o: EncodeAdmissionOptions;
  /** How many videos the reactor has waiting, running or scheduled for a retry. */
  readonly #reactorQueued: () => number;
  #videos = new Map<string, { client: string; seconds: number }>();
  #secondsByClient = new Map<string, number>();
  #receiving = 0;

  constructor(options: EncodeAdmissionOptions, reactorQueued: () => number) {
    this.#o = options;
    this.#reactorQueued = reactorQueued;
  }

  /** Videos counted against the queue bound now. */
  get queued(): number {
    return Math.max(this.#videos.size, this.#reactorQueued()) + this.#receiving;
  }

  queuedSeconds(client: string): number {
    return this.#secondsByClient.get(client) ?? 0;
  }

  /** Before the body is read: refuses when the queue is full or `client` is at its quota. Call the result when the upload ends. */
  beginUpload(client: string): () => void {
    if (this.queued >= this.#o.maxQueuedVideos) {
      throw new RuntimeError(ErrorCodes.Overloaded, `the encode queue is full (${this.#o.maxQueuedVideos} videos); try again later`, { retryAfterMs: QUEUE_FULL_RETRY_MS }, true);
    }
    if (this.queuedSeconds(client) >= this.#o.maxQueuedSecondsPerClient) throw this.#quotaError(client, 0);
    this.#receiving++;
    let ended = false;
    return () => {
      if (!ended) this.#receiving--;
      ended = true;
    };
  }

  /** Counts `seconds` of encode work for `client`, or refuses if that would pass its quota. */
  admit(videoId: string, client: string, seconds: number): void {
    const now = this.queuedSeconds(client);
    if (now + seconds > this.#o.maxQueuedSecondsPerClient) throw this.#quotaError(client, seconds);
    this.#videos.set(videoId, { client, seconds });
    this.#secondsByClient.set(client, now + seconds);
  }

  /** The video's encode work is over (or it was never recorded). */
  release(videoId: string): void {
    const v = this.#videos.get(videoId);
    if (!v) return;
    this.#videos.delete(videoId);
    const left = (this.#secondsByClient.get(v.client) ?? 0) - v.seconds;
    if (left > 1e-9) this.#secondsByClient.set(v.client, left);
    else this.#secondsByClient.delete(v.client);
  }

  #quotaError(client: string, seconds: number): RuntimeError {
    const queued = Math.ceil(this.queuedSeconds(client));
    const limit = this.#o.maxQueuedSecondsPerClient;
    const what = seconds > 0 ? `this video adds ${Math.ceil(seconds)} s of encoding to the ${queued} s you have queued` : `you have ${queued} s of encoding queued`;
    return new RuntimeError(ErrorCodes.QuotaExceeded, `${what}; the limit per client is ${limit} s. Try again once some of your videos are done`, { limit, queuedSeconds: queued, retryAfterMs: QUOTA_RETRY_MS }, true);
  }
}
