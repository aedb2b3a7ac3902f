/**
 * Commits on JetStream: a batch is first made durable in the log of record (one message per partition
 * it touches, each conditional on that partition stream's last sequence), then the same staged things
 * are committed to the node's cache (the local LmdbLog), with the `alsoInBatch` view writes and the
 * cache's checkpoints in that one local batch.
 *
 * ## Order and the write-chain rule
 * Publishes are serialized per log: batch N+1's messages are sent once every message of batch N is
 * acknowledged and checked. Why not pipelined like LMDB: N+1's condition is "the stream's last sequence
 * is N's"; had N been refused because a foreign message took that very sequence, N+1's condition would
 * hold on the foreign message and N+1 would land on top of it, after events that do not exist. Waiting
 * for N's ack is the simplest way to never publish after a failed batch. Drains stay pipelined above
 * this (staging goes on, and the batches just grow). Local commits are issued in publish order as soon
 * as each publish is through, without waiting for each other, through an LMDB write chain of the
 * cache's own: LMDB commits them together, and skips every one after a failed one, so the cache can fall
 * behind the log of record (re-synced later) but never skip a batch.
 *
 * ## What an ack must say
 * The sequence JetStream names must be exactly the expected one + 1 on our stream. A refused condition
 * ("wrong last sequence") or another sequence means someone else wrote: the message now at the
 * expected sequence + 1 is read, and it is either ours (an earlier attempt that did land: accepted),
 * another eventide writer's (`Fenced`), or something else (`CorruptLog`, saying what was found).
 *
 * ## A batch that lands in part
 * JetStream cannot commit messages of several streams atomically. When partition A's message is
 * acknowledged and B's fails, A's events are in the log of record for good; the batch is answered with
 * B's failure (so its commands are "unknown": a retry with the same command id finds them), the log
 * fails (write-chain rule), and the cache is re-synced from JetStream for every partition of the batch
 * before the answer goes out, so reads never disagree with the log of record. The batch's snapshots,
 * pages and view writes are not applied (derived data: folds and projections make them again).
 *
 * ## A takeover confirms the tip
 * A new owner must not serve a partition on a stale view of it. A stream-info answer can be stale: a
 * stream leader that was paused (SIGSTOP, a hung host) and resumed answers as the leader it was, with
 * the last sequence it had, until it hears of the new term and steps down. Asking again proves nothing
 * (the same stale server may answer), so `confirmTip` makes the log of record itself say it: after the
 * catch-up it appends a takeover marker (no events, the new lease epoch) conditional on the last
 * sequence it caught up to. JetStream acknowledges a publish only once the stream's quorum stored it,
 * so an acknowledged marker proves that the stream ended exactly where the cache does; a refused one
 * ("wrong last sequence") means more is there: catch up again, and try again. The marker also puts the
 * new lease epoch in the log before the owner's first batch, so a deposed owner's late message would be
 * seen as foreign by every catch-up even if it got past the condition (nats-server #4320).
 */
import { randomUUID } from 'node:crypto';
import { ErrorCodes, RuntimeError } from '../../kernel/index.js';
import { corruptRecord } from '../record-codec.js';
import { refusedAfter } from '../storage-failure.js';
import type { BatchWriter, Committed } from '../port.js';
import type { StagedWrite } from '../lmdb/index.js';
import { committedHeads } from '../writer-heads.js';
import type { LocalCache, PartitionTip } from './local-cache.js';
import { HEADERS, messageHeaders, payloadCrc, readMeta, type CommandPart } from './partition-message.js';
import { isWrongLastSequence, reasonOf, type PartitionStreams } from './partition-streams.js';
import type { JetStreamStaged } from './batch-writer.js';

/** The cluster layer's view of partition ownership (see JetStreamLogOptions.leases). */
export interface PartitionLeases {
  /** This node's lease epoch of a partition, or null when it holds no lease on it. */
  epochOf(partition: number): number | null;
}

/** The payload of a takeover marker. */
const EMPTY = new Uint8Array(0);
/** Takeover markers tried before a takeover gives up (each after a catch-up; the pause between them grows to 1 s). */
const CONFIRM_ATTEMPTS = 10;

/** The write chain of the cache's local commits. */
const CACHE_WRITER = '$jetstream-cache';
/** Room kept in a message for its headers. */
const HEADER_ROOM = 1024;
const noop = (): void => undefined;

export class RecordCommitter {
  readonly #streams: PartitionStreams;
  readonly #cache: LocalCache;
  readonly #tips: PartitionTip[];
  readonly #leases: PartitionLeases | undefined;
  readonly #maxPayload: number;
  /** This log instance, in message ids and the writer header: tells our messages from others'. */
  readonly #token = randomUUID();
  #failure: RuntimeError | null = null;
  /** The cache's own LmdbLog writer (see #apply), opened at the cache's current owner epoch. */
  #cacheWriter: { epoch: number; writer: BatchWriter } | undefined;
  /** The first failed local commit (the cache is behind the log of record from there). */
  #localFailure: RuntimeError | null = null;
  /** Settles when the last publish phase handed over has. */
  #publishing: Promise<void> = Promise.resolve();
  /** Settles when the last local commit (or re-sync) handed over has. */
  #applying: Promise<void> = Promise.resolve();

  constructor(streams: PartitionStreams, cache: LocalCache, tips: PartitionTip[], leases: PartitionLeases | undefined, maxPayload: number) {
    this.#streams = streams;
    this.#cache = cache;
    this.#tips = tips;
    this.#leases = leases;
    this.#maxPayload = maxPayload;
  }

  /** The largest command a message can hold. */
  get maxCommandBytes(): number {
    return this.#maxPayload - HEADER_ROOM;
  }

  get failure(): RuntimeError | null {
    return this.#failure ?? this.#cache.local.failure;
  }

  /** Where each partition of the log of record is, as this node knows it. */
  tip(partition: number): PartitionTip {
    return { ...this.#tips[partition]! };
  }

  /** See the header. `epoch` is the writer's owner epoch, `ownerEpoch` reads the current one. */
  commit(writerId: string, epoch: number, ownerEpoch: () => number, staged: readonly JetStreamStaged[], alsoInBatch?: () => void): Promise<Committed> {
    const failure = this.failure;
    if (failure) return Promise.reject(refusedAfter(failure));
    const parts = new Map<number, CommandPart[]>();
    for (const s of staged) {
      if (!s.part) continue;
      const list = parts.get(s.part.partition);
      if (list) list.push(s.part);
      else parts.set(s.part.partition, [s.part]);
    }
    const heads = committedHeads(staged);
    const local = staged.map((s) => s.local);
    const earlierApplied = this.#applying;
    const published = this.#publishing.then(() => this.#publish(writerId, epoch, ownerEpoch, parts, earlierApplied));
    this.#publishing = published.then(noop, noop);
    // Issued as soon as its publish is through: in order (publishes are), without waiting for the
    // previous local commit to be flushed, so that LMDB commits them together (see #apply).
    const applied = (async () => {
      await this.#apply(local, await published, alsoInBatch);
    })();
    this.#applying = Promise.all([earlierApplied, applied.then(noop, noop)]).then(noop);
    return applied.then(() => ({ heads }));
  }

  /** Resolves once every batch handed over so far is through (published and applied, or failed). */
  async settled(): Promise<void> {
    await this.#publishing;
    await this.#applying;
  }

  /**
   * Brings the cache up to the log of record for `partitions` (all by default), after every batch handed
   * over before it and before every batch handed over after it. (`probeWrite` then clears the failure.)
   */
  resync(partitions?: readonly number[]): Promise<void> {
    // In both queues: no batch handed over later publishes or applies before the cache is caught up.
    const earlierApplied = this.#applying;
    const run = this.#publishing.then(async () => {
      await earlierApplied;
      await this.#resync(partitions ?? this.#tips.map((_, p) => p));
    });
    this.#publishing = run.then(noop, noop);
    this.#applying = run.then(noop, noop);
    return run;
  }

  /**
   * Catches `partition` up and confirms the tip with a takeover marker (see the header), in both queues
   * like `resync`. `leaseEpoch` answers this node's lease epoch of the partition, or null once the lease
   * is gone: nothing is appended without one, nor with one lower than the log already carries. Rejects
   * with `NotOwner` then, and with `Unavailable` when the tip kept moving (another writer?) for every try.
   */
  confirmTip(partition: number, leaseEpoch: () => number | null): Promise<PartitionTip> {
    const earlierApplied = this.#applying;
    const run = this.#publishing.then(async () => {
      await earlierApplied;
      return this.#confirmTip(partition, leaseEpoch);
    });
    this.#publishing = run.then(noop, noop);
    this.#applying = run.then(noop, noop);
    return run;
  }

  /** The follower applied messages of a partition this node does not write: its tip moved on. */
  followed(partition: number, tip: PartitionTip): void {
    if (tip.seq > this.#tips[partition]!.seq) this.#tips[partition] = { ...tip };
  }

  clearFailure(): void {
    this.#failure = null;
    this.#localFailure = null;
  }

  async #resync(partitions: readonly number[]): Promise<void> {
    for (const p of partitions) {
      const { seq } = await this.#streams.tip(p);
      this.#tips[p] = await this.#cache.catchUp(this.#streams, p, seq);
    }
  }

  async #confirmTip(p: number, leaseEpoch: () => number | null): Promise<PartitionTip> {
    const name = this.#streams.streamName(p);
    let pause = 50;
    for (let attempt = 1; ; attempt++) {
      await this.#resync([p]);
      const tip = this.#tips[p]!;
      const lease = leaseEpoch();
      if (lease === null || lease < tip.leaseEpoch) {
        const why = lease === null ? 'its lease went during the catch-up' : `the log already carries lease epoch ${tip.leaseEpoch}, above this node's ${lease}`;
        throw new RuntimeError(ErrorCodes.NotOwner, `partition ${p} is not served by this node (${why}): retry later`, { partition: p, retryAfterMs: 1000 }, true);
      }
      const expected = tip.seq;
      const msgId = `${this.#token}.${p}.${expected + 1}.takeover`;
      const fields = messageHeaders({ firstOffset: tip.offset, count: 0, epoch: this.#cache.local.ownerEpoch(), leaseEpoch: lease, writer: `${this.#token}/takeover`, crc: payloadCrc(EMPTY), msgId });
      let seq = -1;
      try {
        const ack = await this.#streams.publish(p, EMPTY, fields, msgId, expected);
        seq = ack.stream === name ? ack.seq : -1;
      } catch (err) {
        if (!isWrongLastSequence(err)) throw this.#unknownOutcome(p, err);
      }
      // Refused: more is in the stream than this node read, or an earlier try of this very marker landed.
      if (seq === -1) {
        const found = await this.#streams.messageAt(p, expected + 1).catch(() => null);
        if (found?.header.get(HEADERS.msgId) === msgId) seq = expected + 1;
      }
      if (seq === expected + 1) {
        const confirmed: PartitionTip = { seq, offset: tip.offset, leaseEpoch: Math.max(tip.leaseEpoch, lease) };
        await this.#cache.recordMarker(p, confirmed);
        this.#tips[p] = confirmed;
        return { ...confirmed };
      }
      if (seq !== -1) throw new RuntimeError(ErrorCodes.CorruptLog, `partition ${p}: JetStream stored a takeover marker conditional on seq ${expected} at seq ${seq}: check the stream`, { partition: p, where: `${name}#${seq}` });
      if (attempt >= CONFIRM_ATTEMPTS) throw new RuntimeError(ErrorCodes.Unavailable, `partition ${p}: its stream ${name} kept moving past what this node read (${CONFIRM_ATTEMPTS} tries): another writer?`, { partition: p }, true);
      await new Promise((r) => setTimeout(r, pause));
      pause = Math.min(pause * 2, 1_000);
    }
  }

  /** Publishes a batch's messages; answers the tips of its partitions right after them (what its local commit records). */
  async #publish(writerId: string, epoch: number, ownerEpoch: () => number, parts: Map<number, CommandPart[]>, earlierApplied: Promise<void>): Promise<Map<number, PartitionTip>> {
    const failure = this.failure;
    if (failure) throw refusedAfter(failure);
    // Nothing is sent unless all of it may be: the owner epoch, the leases, the positions.
    const current = ownerEpoch();
    if (current !== epoch) throw this.#fail(fencedByEpoch(epoch, current));
    const tips = new Map<number, PartitionTip>();
    if (parts.size === 0) return tips;
    for (const [p, list] of parts) {
      const tip = this.#tips[p]!;
      const lease = this.#leases ? this.#leases.epochOf(p) : null;
      if (this.#leases && (lease === null || lease < tip.leaseEpoch)) {
        throw this.#fail(new RuntimeError(ErrorCodes.Fenced, `partition ${p}: this node holds ${lease === null ? 'no lease on it' : `lease epoch ${lease}, below the log's ${tip.leaseEpoch}`}; nothing was sent`, { partition: p, lease, logLease: tip.leaseEpoch }));
      }
      let next = tip.offset;
      for (const part of list) {
        if (part.firstOffset !== next) {
          const why = part.firstOffset < next ? `partition ${p} offset ${part.firstOffset} is already taken (the log is at ${tip.offset}); the writer's head was read short` : `partition ${p} offset ${part.firstOffset} would leave a gap after ${next}`;
          throw this.#fail(corruptRecord('partitions', [p, part.firstOffset], why, p));
        }
        next += part.count;
      }
    }
    const results = await Promise.allSettled(
      [...parts].map(([p, list]) =>
        this.#publishPartition(writerId, epoch, p, list).catch((err: unknown) => {
          throw this.#unknownOutcome(p, err);
        }),
      ),
    );
    const errors = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as RuntimeError] : []));
    if (errors.length === 0) {
      for (const p of parts.keys()) tips.set(p, this.tip(p));
      return tips;
    }
    // The worst reason first: another writer, then damage, then the rest.
    const rank = (e: RuntimeError) => (e.code === ErrorCodes.Fenced ? 0 : e.code === ErrorCodes.CorruptLog ? 1 : 2);
    const err = this.#fail(errors.sort((a, b) => rank(a) - rank(b))[0]!);
    await earlierApplied;
    try {
      await this.#resync([...parts.keys()]);
    } catch (resyncErr) {
      err.details.resync = reasonOf(resyncErr);
    }
    throw err;
  }

  /** The messages of one partition (one, unless the batch is larger than a message may be), one after the other. */
  async #publishPartition(writerId: string, epoch: number, p: number, list: readonly CommandPart[]): Promise<void> {
    for (const chunk of chunks(list, this.maxCommandBytes)) {
      const tip = this.#tips[p]!;
      const expected = tip.seq;
      const firstOffset = chunk[0]!.firstOffset;
      const count = chunk.reduce((n, c) => n + c.count, 0);
      const payload = chunk.length === 1 ? chunk[0]!.bytes : Buffer.concat(chunk.map((c) => c.bytes));
      const lease = this.#leases ? this.#leases.epochOf(p) : null;
      if (this.#leases && lease === null) throw new RuntimeError(ErrorCodes.Fenced, `partition ${p}: this node lost its lease; nothing more was sent`, { partition: p });
      const msgId = `${this.#token}.${p}.${expected + 1}.${firstOffset}`;
      const fields = messageHeaders({ firstOffset, count, epoch, leaseEpoch: lease, writer: `${this.#token}/${writerId}`, crc: payloadCrc(payload), msgId });
      let seq: number;
      try {
        const ack = await this.#streams.publish(p, payload, fields, msgId, expected);
        seq = ack.stream === this.#streams.streamName(p) ? ack.seq : -1;
      } catch (err) {
        if (!isWrongLastSequence(err)) throw this.#unknownOutcome(p, err);
        seq = -1;
      }
      if (seq !== expected + 1) await this.#explain(p, expected, msgId, seq);
      this.#tips[p] = { seq: expected + 1, offset: firstOffset + count, leaseEpoch: Math.max(tip.leaseEpoch, lease ?? 0) };
    }
  }

  /**
   * The stream did not take our message at expected + 1 as asked: find out what is there. Returns when
   * it is our own message after all (an earlier attempt landed); throws otherwise.
   */
  async #explain(p: number, expected: number, msgId: string, acked: number): Promise<void> {
    const name = this.#streams.streamName(p);
    let found;
    try {
      found = await this.#streams.messageAt(p, expected + 1);
    } catch (err) {
      throw this.#unknownOutcome(p, err);
    }
    const id = found?.header.get(HEADERS.msgId);
    if (found && id === msgId && acked === -1) return;
    const said = acked === -1 ? 'refused the append (its last sequence was not ' + expected + ')' : `stored it at seq ${acked}, not ${expected + 1}`;
    if (found) {
      try {
        const meta = readMeta((k) => found.header.get(k) || undefined, `${name}#${expected + 1}`);
        if (id !== msgId) {
          throw new RuntimeError(ErrorCodes.Fenced, `partition ${p}: another writer appended to ${name} (seq ${expected + 1} holds writer ${meta.writer || '?'}, epoch ${meta.epoch}${meta.leaseEpoch === null ? '' : `, lease ${meta.leaseEpoch}`}); JetStream ${said}: this log stops writing`, { partition: p, expected, writer: meta.writer, epoch: meta.epoch, lease: meta.leaseEpoch });
        }
      } catch (err) {
        if (RuntimeError.is(err, ErrorCodes.Fenced)) throw err;
        // Not an eventide message: fall through to the damage report.
      }
    }
    throw new RuntimeError(ErrorCodes.CorruptLog, `partition ${p}: JetStream ${said}, and seq ${expected + 1} of ${name} holds ${found ? `a message that is not this log's (id ${JSON.stringify(id ?? null)})` : 'nothing'}: this log stops writing; check the stream`, { partition: p, expected, where: `${name}#${expected + 1}` });
  }

  #unknownOutcome(p: number, err: unknown): RuntimeError {
    if (RuntimeError.is(err) && typeof err.code === 'string' && err.code in ErrorCodes) return err as RuntimeError;
    const reason = reasonOf(err);
    return new RuntimeError(
      ErrorCodes.StorageFailed,
      `the log of record (JetStream stream ${this.#streams.streamName(p)}) failed to take a batch: ${reason}. The outcome of its commands is unknown (they may be in the log): retry them with the same commandId, which applies them at most once`,
      { cause: 'jetstream', reason, outcome: 'unknown', freeBytes: null, mount: this.#streams.streamName(p) },
      true,
    );
  }

  #fail(err: RuntimeError): RuntimeError {
    this.#failure ??= err;
    return err;
  }

  /**
   * The cache's commit of a batch already in the log of record, with its view writes and the new
   * checkpoints. Through an LMDB write chain (the cache's own writer, at the cache's owner epoch): a
   * local commit issued after one that failed is skipped by LMDB itself, so the cache can fall behind
   * the log of record (re-synced later) but never skip a batch, and commits need not wait for each other.
   */
  async #apply(local: readonly StagedWrite[], tips: Map<number, PartitionTip>, alsoInBatch: (() => void) | undefined): Promise<void> {
    // An earlier local commit failed after this batch was published: it is in the log of record, not in
    // the cache (which stays behind, never inconsistent: re-synced by probeWrite or the next open).
    // (Only a local failure counts here: a later batch that failed to publish does not undo this one.)
    const localFailure = this.#localFailure ?? this.#cache.local.failure;
    if (localFailure && tips.size > 0) throw this.#notCached([...tips.keys()][0]!, localFailure.message);
    if (localFailure) throw refusedAfter(localFailure);
    const also = () => {
      alsoInBatch?.();
      this.#cache.recordTips(tips);
    };
    try {
      const epoch = this.#cache.local.ownerEpoch();
      if (epoch === 0) await this.#cache.local.commit(local, also);
      else {
        if (this.#cacheWriter?.epoch !== epoch) this.#cacheWriter = { epoch, writer: this.#cache.local.openWriter(CACHE_WRITER, epoch, []) };
        await this.#cacheWriter.writer.commit(local, also);
      }
    } catch (err) {
      this.#localFailure ??= RuntimeError.is(err) ? (err as RuntimeError) : this.#unknownOutcome(0, err);
      throw this.#fail(tips.size > 0 ? this.#notCached([...tips.keys()][0]!, reasonOf(err)) : RuntimeError.is(err) ? (err as RuntimeError) : this.#unknownOutcome(0, err));
    }
  }

  #notCached(p: number, reason: string): RuntimeError {
    return new RuntimeError(
      ErrorCodes.StorageFailed,
      `the batch is in the log of record (JetStream) but this node's cache failed to take it: ${reason}. Its commands are applied; a retry with the same commandId finds them once the cache is re-synced (probeWrite or reopen)`,
      { cause: 'local-cache', reason, outcome: 'unknown', freeBytes: null, mount: this.#streams.streamName(p) },
      true,
    );
  }
}

/** `Fenced` for a writer whose owner epoch was superseded (claimOwnership since). */
export function fencedByEpoch(epoch: number, current: number): RuntimeError {
  return new RuntimeError(ErrorCodes.Fenced, `this log was claimed by a newer owner (owner epoch ${current}; this writer had ${epoch}): its writes are refused, nothing was sent`, { epoch, current });
}

/** Command parts cut into messages of at most `max` payload bytes, in order. */
function chunks(list: readonly CommandPart[], max: number): CommandPart[][] {
  const out: CommandPart[][] = [];
  let current: CommandPart[] = [];
  let size = 0;
  for (const part of list) {
    if (current.length > 0 && size + part.bytes.length > max) {
      out.push(current);
      current = [];
      size = 0;
    }
    current.push(part);
    size += part.bytes.length;
  }
  if (current.length > 0) out.push(current);
  return out;
}
