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
 * Gotchas: a catch-up must never run while a local commit is pending (record-committer.ts queues
 * them): racing one, it would apply a message twice. For the same reason one local dir is caught up by
 * one JetStreamLog at a time.
 */
import type { EventEnvelope } from '../../kernel/index.js';
import type { LmdbLog, StagedWrite } from '../lmdb/index.js';
import { corruptMessage, decodeMessage, readMeta } from './partition-message.js';
import type { PartitionStreams } from './partition-streams.js';

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

export class LocalCache {
  readonly local: LmdbLog;

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
  async catchUp(streams: PartitionStreams, partition: number, lastSeq: number): Promise<PartitionTip> {
    this.local.refreshReads();
    const tip = this.tip(partition);
    const name = streams.streamName(partition);
    if (tip.seq > lastSeq) throw corruptMessage(`${name}#${lastSeq}`, `this node's cache holds messages up to seq ${tip.seq} but the stream ends at ${lastSeq} (recreated stream, or a cache of another log: delete the local dir to rebuild it)`);
    let staged: StagedWrite[] = [];
    let pending = 0;
    let bytes = 0;
    const flush = async () => {
      if (pending === 0) return;
      const at = new Map([[partition, { ...tip }]]);
      await this.local.commit(staged, () => this.recordTips(at));
      await this.local.durable();
      staged = [];
      pending = 0;
      bytes = 0;
    };
    for await (const m of streams.read(partition, tip.seq + 1, lastSeq)) {
      const where = `${name}#${m.seq}`;
      const meta = readMeta(m.header, where);
      if (meta.firstOffset !== tip.offset) throw corruptMessage(where, `it starts at offset ${meta.firstOffset}, the partition is at ${tip.offset}`);
      if (meta.leaseEpoch !== null || tip.leaseEpoch > 0) {
        const epoch = meta.leaseEpoch ?? 0;
        if (epoch < tip.leaseEpoch) throw corruptMessage(where, `a foreign write: it carries lease epoch ${epoch} after a message of epoch ${tip.leaseEpoch} (writer ${meta.writer || '?'}, a deposed owner); not applied`);
        tip.leaseEpoch = epoch;
      }
      for (const c of decodeMessage(m.data, meta, partition, where)) {
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

