/**
 * The group's JetStream KV bucket, behind the few operations membership and leases need: conditional
 * writes by revision, reads, and one watcher over every key. The only file of src/cluster/ that
 * touches the NATS client, so the rest reads as the protocol and can be followed without it.
 *
 * One bucket per group holds three kinds of keys (see docs/cluster-ownership.md):
 * - `config`: the group's partition count, written once by the first member;
 * - `members.<nodeId>`: each member's heartbeat (a new revision each beat);
 * - `leases.<partition>`: `{ owner, epoch, expiresAfterMs }`, written by compare-and-set on the revision.
 *
 * Gotchas:
 * - No TTL on the bucket: nats-server 2.9 has only a per-bucket max age (per-key TTL came in 2.11),
 *   and a lease key must keep its epoch forever (a released or idle partition's next owner takes
 *   epoch + 1; an expired key would restart it at 1 and the log's fencing would accept a stale owner).
 *   Dead members' keys are deleted by the live members instead (by revision, so a member that comes
 *   back is never deleted).
 * - The watcher is an ordered push consumer with a 30 s idle heartbeat: after a nats-server dies it may
 *   stay silent for up to a minute before it recreates itself. The group detects that sooner (its own
 *   heartbeats stop coming back) and restarts it; see `stop()`.
 * - A write that timed out may still have been stored: callers treat a timeout as "unknown", never as
 *   "not written".
 */
import { Kvm, type KV, type KvWatchEntry } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { ErrorCodes, RuntimeError } from '../kernel/index.js';

/** One key's latest state as read or watched: `value` is null when the key was deleted or purged. */
export interface BucketEntry {
  key: string;
  revision: number;
  value: Uint8Array | null;
}

/** A running watcher: `stop()` ends it (entries stop arriving at once). */
export interface BucketWatch {
  stop(): void;
  /** Settles when the watcher ended by itself (the connection closed, the consumer could not be recreated). */
  readonly ended: Promise<void>;
}

/** JetStream's "wrong last sequence" (10071) and "wrong last sequence unknown" (10164): the compare-and-set lost. */
const CONFLICT_CODES = new Set([10071, 10164]);

/** True when a conditional write failed because the key's revision was not the expected one. */
export function isRevisionConflict(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' && CONFLICT_CODES.has(code) && (err as { name?: unknown }).name === 'JetStreamApiError';
}

export class GroupBucket {
  readonly #kv: KV;
  readonly name: string;

  private constructor(kv: KV, name: string) {
    this.#kv = kv;
    this.name = name;
  }

  /** Opens the bucket, creating it (history 1, file storage, `replicas` copies) if it is missing. */
  static async open(connection: NatsConnection, name: string, replicas: number, timeoutMs: number): Promise<GroupBucket> {
    try {
      const kv = await new Kvm(connection).create(name, { history: 1, replicas, storage: 'file', timeout: timeoutMs });
      return new GroupBucket(kv, name);
    } catch (err) {
      throw new RuntimeError(ErrorCodes.Unavailable, `cannot open the cluster's KV bucket ${name}: ${(err as Error).message}`, { bucket: name, retryAfterMs: 1000 }, true);
    }
  }

  /** Writes `value` only if the key does not exist (or was deleted); answers the new revision. */
  create(key: string, value: string, timeoutMs: number): Promise<number> {
    return withTimeout(this.#kv.create(key, value), timeoutMs);
  }

  /** Writes `value` only if the key's latest revision is `revision`; answers the new revision. */
  update(key: string, value: string, revision: number, timeoutMs: number): Promise<number> {
    return this.#kv.update(key, value, revision, timeoutMs);
  }

  /** Writes `value` whatever the key holds; answers the new revision. */
  put(key: string, value: string, timeoutMs: number): Promise<number> {
    return this.#kv.put(key, value, { timeout: timeoutMs });
  }

  /** Deletes the key (a delete marker): only if its latest revision is `revision`, when given. */
  delete(key: string, revision: number | undefined, timeoutMs: number): Promise<void> {
    return withTimeout(this.#kv.delete(key, revision === undefined ? {} : { previousSeq: revision }), timeoutMs);
  }

  /** The key's latest state, or null when it never existed. */
  async get(key: string, timeoutMs: number): Promise<BucketEntry | null> {
    const entry = await withTimeout(this.#kv.get(key), timeoutMs);
    return entry === null ? null : { key: entry.key, revision: entry.revision, value: entry.operation === 'PUT' ? entry.value : null };
  }

  /**
   * Calls `onEntry` with every key's latest state, then with every change, in revision order, until
   * `stop()`. Entries arrive on the connection's callbacks, never concurrently.
   */
  async watch(onEntry: (entry: BucketEntry) => void): Promise<BucketWatch> {
    const iterator = await this.#kv.watch({ key: '>' });
    const ended = (async () => {
      try {
        for await (const e of iterator as AsyncIterable<KvWatchEntry>) {
          onEntry({ key: e.key, revision: e.revision, value: e.operation === 'PUT' ? e.value : null });
        }
      } catch {
        // The watcher failed (connection closed, consumer gone): the caller restarts it.
      }
    })();
    return { stop: () => iterator.stop(), ended };
  }
}

/** Some client calls take no timeout of their own: bound them, so a stuck request cannot hold a lease decision. */
function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new RuntimeError(ErrorCodes.Unavailable, `the KV request took longer than ${ms} ms`, { retryAfterMs: ms }, true)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
