/**
 * The port's `BatchWriter` on JetStream. Staging is the LMDB writer's (positions assigned from the
 * expected version and this writer's partition heads, records encoded by the cache's `LmdbLog`), plus
 * the command's part of its partition's message, encoded now so that data a message cannot hold fails
 * its own command and nothing else. `commit` goes to the RecordCommitter (record-committer.ts).
 */
import { ErrorCodes, RuntimeError, type EventEnvelope } from '../../kernel/index.js';
import type { LmdbLog, StagedWrite } from '../lmdb/index.js';
import type { AppendRequest, BatchWriter, Committed, Staged, StoredSnapshot } from '../port.js';
import { WriterHeads, positionEvents } from '../writer-heads.js';
import { encodeCommand, type CommandPart } from './partition-message.js';
import type { RecordCommitter } from './record-committer.js';

/** What this adapter stages: the cache's records, and an append's part of its partition's message. */
export interface JetStreamStaged extends Staged {
  readonly local: StagedWrite;
  readonly part?: CommandPart;
}

export class JetStreamBatchWriter implements BatchWriter {
  readonly #local: LmdbLog;
  readonly #committer: RecordCommitter;
  readonly #writerId: string;
  readonly #epoch: number;
  readonly #ownerEpoch: () => number;
  readonly #heads: WriterHeads;

  constructor(local: LmdbLog, committer: RecordCommitter, writerId: string, epoch: number, ownerEpoch: () => number, partitions: readonly number[]) {
    this.#local = local;
    this.#committer = committer;
    this.#writerId = writerId;
    this.#epoch = epoch;
    this.#ownerEpoch = ownerEpoch;
    this.#heads = new WriterHeads(partitions, (p) => local.partitionHead(p));
  }

  head(partition: number): number {
    return this.#heads.head(partition);
  }

  reloadHead(partition: number): number {
    this.#local.refreshReads();
    return this.#heads.reload(partition);
  }

  stageAppend(r: AppendRequest): Staged {
    const events = positionEvents(r, this.head(r.partition));
    const n = events.length;
    // Both may throw (data msgpack cannot hold, a position taken): then no offset is consumed.
    const local = this.#local.stageAppend(events, r.commandId, r.digest);
    let staged: JetStreamStaged = { local, events };
    if (n > 0) {
      const part = encodeCommand(events, r.commandId, r.digest);
      if (part.bytes.length > this.#committer.maxCommandBytes) {
        throw new RuntimeError(ErrorCodes.PayloadTooLarge, `a command's events take ${part.bytes.length} bytes; a JetStream message holds at most ${this.#committer.maxCommandBytes} (the server's max_payload less room for headers)`, { bytes: part.bytes.length, max: this.#committer.maxCommandBytes });
      }
      staged = { local, events, part };
    }
    this.#heads.advance(r.partition, n);
    return staged;
  }

  stageSnapshot(aggregateType: string, id: string, snapshot: StoredSnapshot): Staged {
    const staged: JetStreamStaged = { local: this.#local.stageSnapshot(aggregateType, id, snapshot) };
    return staged;
  }

  stageSnapshotRemoval(aggregateType: string, id: string, version: number): Staged {
    const staged: JetStreamStaged = { local: this.#local.stageSnapshotRemoval(aggregateType, id, version) };
    return staged;
  }

  stagePage(events: readonly EventEnvelope[]): Staged {
    const staged: JetStreamStaged = { local: this.#local.stagePage(events) };
    return staged;
  }

  stageStoredPage(aggregateType: string, id: string, first: number): Staged | null {
    const local = this.#local.stageStoredPage(aggregateType, id, first);
    if (local === null) return null;
    const staged: JetStreamStaged = { local };
    return staged;
  }

  commit(staged: readonly Staged[], alsoInBatch?: () => void): Promise<Committed> {
    for (const s of staged) {
      if (!(s as Partial<JetStreamStaged>).local) return Promise.reject(new RuntimeError(ErrorCodes.Internal, 'a staged write of another log adapter was handed to the JetStream log'));
    }
    return this.#committer.commit(this.#writerId, this.#epoch, this.#ownerEpoch, staged as readonly JetStreamStaged[], alsoInBatch);
  }

  get failure(): RuntimeError | null {
    return this.#committer.failure;
  }
}
