/**
 * The node's cache: a local `LmdbLog`, used through its public API only, plus what the adapter keeps
 * beside it to know how far the cache is (per partition: the last JetStream sequence applied and the
 * highest lease epoch seen) and which log it caches. That bookkeeping lives in the cache's view store
 * (checkpoints of reserved `$jetstream-*` views), written in the same LMDB batch as the events it
 * accounts for, so the cache can never hold events its checkpoint does not count (or the reverse).
 *
 * Catch-up (`catchUp`) applies the log of record's messages after the checkpoint, in order, checking
 * each one: checksum, first offset = the partition's running offset, count, and a lease epoch never
 * lower than an earlier message's (a lower one is a write by a deposed owner: reported as `CorruptLog`
 * naming the message, never applied silently).
 *
 * Every change of one partition's cache from the log of record (a catch-up, a followed batch, a takeover
 * marker) runs alone for that partition (`#exclusive`), reading the checkpoint afresh: two of them
 * racing would apply a message twice. Each local commit of such a change is announced to `onApplied`
 * (the partition's offsets it added), so the runtime can pass the events on to its subscribers.
 *
 * Gotchas: a catch-up must never run while a local commit of the same partition's own batches is
 * pending (record-committer.ts queues them; the follower follows only partitions this node does not
 * write). For the same reason one local dir is caught up by one JetStreamLog at a time.
 */
import type { EventEnvelope } from '../../kernel/index.js';
import type { LmdbLog, StagedWrite } from '../lmdb/index.js';
import { corruptMessage, decodeMessage, readMeta } from './partition-message.js';
import type { PartitionStreams, StreamMessage } from './partition-streams.js';

const SEQ_VIEW = '$jetstream-seq';
const LEASE_VIEW = '$jetstream-lease';
const IDENTITY_VIEW = '$jetstream-log';
/** Messages, and payload bytes, applied per local commit while catching up (bounds what is held in memory). */
const APPLY_BATCH = 128;
const APPLY_BYTES = 8 * 1024 * 1024;

/** Where a partition of the log of record is, as this node knows it. */
export interface PartitionTip {
  /** Last JetStream sequence of the partition's stream (0: empty). */
  seq: number;
  /** The partition's next offset. */
  offset: number;
  /** Highest lease epoch a message of the partition carried (0: none). */
  leaseEpoch: number;
}

/** What the cache records about the log it caches, to refuse a cache of another (or a recreated) log. */
export interface CacheIdentity {
  name: string;
  partitions: number;
  /** Each partition stream's creation time. */
  created: string[];
}

/** Offsets `from..to - 1` of `partition` were applied to the cache from the log of record. */
export type AppliedListener = (partition: number, from: number, to: number) => void;

/** What applying followed messages did: `stale`, nothing (the partition is not followed any more); `gap`, they do not follow the checkpoint. */
export type FollowedApply = { kind: 'applied'; tip: PartitionTip } | { kind: 'stale' } | { kind: 'gap'; tip: PartitionTip };

export class LocalCache {
  readonly local: LmdbLog;
  /** Told of every local commit of messages from the log of record (not of this node's own batches). */
  onApplied: AppliedListener | null = null;
  /** Per partition, the change from the log of record running now (see the header). */
  readonly #busy = new Map<number, Promise<unknown>>();

  constructor(local: LmdbLog) {
    this.local = local;
  }

  tip(partition: number): PartitionTip {
    const v = this.local.views;
    return { seq: v.checkpoint(SEQ_VIEW, 1, partition), offset: this.local.partitionHead(partition), leaseEpoch: v.checkpoint(LEASE_VIEW, 1, partition) };
  }

  identity(): CacheIdentity | undefined {
    return this.local.views.getRow<CacheIdentity>(IDENTITY_VIEW, 1, 'log');
  }

  async recordIdentity(identity: CacheIdentity): Promise<void> {
    void this.local.views.putRow(IDENTITY_VIEW, 1, 'log', identity);
    await this.local.views.committed();
  }

  /** Queues, into the current local batch, the bookkeeping of partitions now at `tips` (call inside `alsoInBatch`). */
  recordTips(tips: ReadonlyMap<number, PartitionTip>): void {
    for (const [p, tip] of tips) {
      void this.local.views.putCheckpoint(SEQ_VIEW, 1, p, tip.seq);
      void this.local.views.putCheckpoint(LEASE_VIEW, 1, p, tip.leaseEpoch);
    }
  }

  /**
   * Applies the messages of `partition` after the cache's checkpoint up to `lastSeq` (the stream's last
   * sequence when the caller looked). Returns the partition's tip after them.
   */
  catchUp(streams: PartitionStreams, partition: number, lastSeq: number): Promise<PartitionTip> {
    return this.#exclusive(partition, async () => {
      this.local.refreshReads();
      const tip = this.tip(partition);
      const name = streams.streamName(partition);
      // A cache ahead of the answer: a stale stream-info answer (a stream leader that was paused answers
      // as the leader it was until it steps down), not a shorter stream (a recreated stream is another
      // log: the identity check at open refuses it). Nothing to read; a takeover confirms the tip.
      if (tip.seq >= lastSeq) return tip;
      return this.#apply(name, partition, tip, streams.read(partition, tip.seq + 1, lastSeq));
    });
  }

  /**
   * Applies messages the follower fetched (partition-follower.ts), unless `followed()` says the partition
   * is not followed any more (this node took it: its acquire catches it up itself). Messages the cache
   * already holds are skipped; messages that do not start right after the checkpoint are a `gap` (the
   * follower reads again from the checkpoint).
   */
  applyFollowed(name: string, partition: number, messages: readonly StreamMessage[], followed: () => boolean): Promise<FollowedApply> {
    return this.#exclusive(partition, async (): Promise<FollowedApply> => {
      if (!followed()) return { kind: 'stale' };
      this.local.refreshReads();
      const tip = this.tip(partition);
      const fresh = messages.filter((m) => m.seq > tip.seq);
      if (fresh.length === 0) return { kind: 'applied', tip };
      if (fresh[0]!.seq !== tip.seq + 1) return { kind: 'gap', tip };
      return { kind: 'applied', tip: await this.#apply(name, partition, tip, fresh) };
    });
  }

  /** Records that `partition` is at `tip` after this node's takeover marker (record-committer.ts). */
  recordMarker(partition: number, tip: PartitionTip): Promise<void> {
    return this.#exclusive(partition, async () => {
      // Only checkpoints: committed with the view store's own writes (lost in a crash, the marker is read again).
      this.recordTips(new Map([[partition, tip]]));
      await this.local.views.committed();
    });
  }

  /** Resolves once every change from the log of record handed over so far is through. */
  async idle(): Promise<void> {
    await Promise.allSettled([...this.#busy.values()]);
  }

  /** Runs `fn` once every change of `partition` from the log of record handed over before it is through. */
  #exclusive<T>(partition: number, fn: () => Promise<T>): Promise<T> {
    const before = this.#busy.get(partition) ?? Promise.resolve();
    const run = before.then(fn, fn);
    const settled = run.then(
      () => undefined,
      () => undefined,
    );
    this.#busy.set(partition, settled);
    void settled.then(() => {
      if (this.#busy.get(partition) === settled) this.#busy.delete(partition);
    });
    return run;
  }

  /** Applies `messages` (the ones right after `tip`, in order) in local commits of bounded size, checking each. */
  async #apply(name: string, partition: number, tip: PartitionTip, messages: AsyncIterable<StreamMessage> | Iterable<StreamMessage>): Promise<PartitionTip> {
    let staged: StagedWrite[] = [];
    let pending = 0;
    let bytes = 0;
    let announced = tip.offset;
    const flush = async () => {
      if (pending === 0) return;
      const at = new Map([[partition, { ...tip }]]);
      await this.local.commit(staged, () => this.recordTips(at));
      await this.local.durable();
      // A flush of markers only stages no event: its checkpoints then commit with the view store's writes.
      if (staged.length === 0) await this.local.views.committed();
      staged = [];
      pending = 0;
      bytes = 0;
      if (tip.offset > announced) {
        this.onApplied?.(partition, announced, tip.offset);
        announced = tip.offset;
      }
    };
    for await (const m of messages) {
      const where = `${name}#${m.seq}`;
      let parts: ReturnType<typeof decodeMessage>;
      let meta: ReturnType<typeof readMeta>;
      try {
        meta = readMeta(m.header, where);
        if (meta.firstOffset !== tip.offset) throw corruptMessage(where, `it starts at offset ${meta.firstOffset}, the partition is at ${tip.offset}`);
        const epoch = meta.leaseEpoch ?? 0;
        if ((meta.leaseEpoch !== null || tip.leaseEpoch > 0) && epoch < tip.leaseEpoch) throw corruptMessage(where, `a foreign write: it carries lease epoch ${epoch} after a message of epoch ${tip.leaseEpoch} (writer ${meta.writer || '?'}, a deposed owner); not applied`);
        parts = decodeMessage(m.data, meta, partition, where);
      } catch (err) {
        // What came before the damage is the log of record's: applied, so the cache stops right before it.
        await flush();
        throw err;
      }
      if (meta.leaseEpoch !== null || tip.leaseEpoch > 0) tip.leaseEpoch = meta.leaseEpoch ?? 0;
      for (const c of parts) {
        if (c.events.length > 0) staged.push(this.local.stageAppend(c.events, c.commandId, c.digest));
      }
      tip.seq = m.seq;
      tip.offset += meta.count;
      bytes += m.data.length;
      if (++pending >= APPLY_BATCH || bytes >= APPLY_BYTES) await flush();
    }
    await flush();
    this.local.refreshReads();
    return tip;
  }
}
