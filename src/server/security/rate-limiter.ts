/**
 * A token bucket per client: `burst` requests at once, refilled at `perSecond`. A client is a key
 * (`token:<name>` when authenticated, else `ip:<address>`).
 *
 * Why in-house and not `@fastify/rate-limit` (11.x, fastify 5): that plugin counts fixed windows, so a
 * client can pass twice the limit across a window edge, and it keys requests before our auth hook has
 * named the client (its `keyGenerator` would have to re-check the token). This is 60 lines: a true
 * bucket (smooth refill), keyed by the token name the auth step found, with the clock injected so the
 * unit tests need no sleeping. Revisit if the plugin's store (Redis, shared limits) is ever wanted.
 *
 * Memory is bounded: at most `maxClients` buckets, least recently used evicted first. Evicting a bucket
 * forgives its client (it starts full again); that is the price of a bound, and a flood of distinct
 * addresses large enough to cycle the map is a job for the network edge, not for this process.
 */
import { ErrorCodes, RuntimeError } from '../../kernel/index.js';

export interface RateLimitOptions {
  /** Sustained requests per second per client. */
  perSecond: number;
  /** Requests a client may send at once before the rate applies. */
  burst: number;
  /** Most clients remembered (default 10 000). */
  maxClients?: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

export type Take = { ok: true } | { ok: false; retryAfterMs: number };

export class RateLimiter {
  readonly #perMs: number;
  readonly #burst: number;
  readonly #max: number;
  readonly #now: () => number;
  // A Map keeps insertion order: deleting and re-inserting on each use makes the first key the least recent.
  readonly #buckets = new Map<string, Bucket>();

  constructor(o: RateLimitOptions, now: () => number = () => performance.now()) {
    if (!(o.perSecond > 0) || !Number.isFinite(o.perSecond)) throw new RuntimeError(ErrorCodes.InvalidOptions, `perSecond must be a positive number, got ${o.perSecond}`);
    if (!Number.isSafeInteger(o.burst) || o.burst < 1) throw new RuntimeError(ErrorCodes.InvalidOptions, `burst must be a positive integer, got ${o.burst}`);
    this.#perMs = o.perSecond / 1000;
    this.#burst = o.burst;
    this.#max = o.maxClients ?? 10_000;
    this.#now = now;
  }

  get size(): number {
    return this.#buckets.size;
  }

  /** Takes one request from `key`'s bucket, or says how long until one is available. */
  take(key: string): Take {
    const now = this.#now();
    let b = this.#buckets.get(key);
    if (b) {
      this.#buckets.delete(key);
      b.tokens = Math.min(this.#burst, b.tokens + (now - b.at) * this.#perMs);
      b.at = now;
    } else {
      if (this.#buckets.size >= this.#max) this.#buckets.delete(this.#buckets.keys().next().value!);
      b = { tokens: this.#burst, at: now };
    }
    this.#buckets.set(key, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return { ok: true };
    }
    return { ok: false, retryAfterMs: Math.ceil((1 - b.tokens) / this.#perMs) };
  }
}
