/**
 * Who reads and encodes catch-up chunks (encoded-chunk.ts) for the chunk store: a worker thread reading
 * the LMDB log (chunk-reader-thread.ts), or this thread (`InlineChunkReader`) for a log that lives here
 * (the memory log) or when told to.
 *
 * Why a thread for the LMDB log: reading an event back (index run, event record, checksum, decode) and
 * encoding it as JSON costs several microseconds (bench/README.md, "The feed's catch-up"), so a chunk of
 * 1 000 events held the main thread, which routes every command, for milliseconds each. LMDB readers work
 * from any thread of the process (lmdb-js shares the environment), so a reader thread does the same reads
 * through the same log port and hands back bytes, transferred, not copied.
 *
 * The messages between the two sides are typed here, in one place.
 */
import { ErrorCodes, RuntimeError, type EventEnvelope, type SerializedError } from '../../kernel/index.js';
import { encodeChunk, type ChunkData } from './encoded-chunk.js';

export interface ChunkReader {
  /**
   * Events `from` to `to` (exclusive) of a partition, encoded; fewer when the log holds fewer (never
   * more). Rejects with the log's error (`CorruptRecord`, `CorruptLog`).
   */
  read(partition: number, from: number, to: number): Promise<ChunkData>;
  /** Gets ready to read (the hub calls it when a client connects): starts the reader thread, if any. */
  start(): void;
  /** Whether reads are made off the main thread now (for the metric and tests). */
  readonly onThread: boolean;
  /** Stops reading; pending reads reject. */
  close(): Promise<void>;
}

/** What the reader thread needs to open the log as the deciders see it. */
export interface ChunkReaderConfig {
  dataDir: string;
  partitions: number;
  domainModules: readonly string[];
}

export type ToChunkReader = { kind: 'read'; id: number; partition: number; from: number; to: number } | { kind: 'close' };
export type FromChunkReader =
  /** The log is open: reads may come. */
  | { kind: 'ready' }
  | { kind: 'chunk'; id: number; data: ChunkData }
  | { kind: 'failed'; id: number; error: SerializedError }
  /** The log could not be opened: every read fails with this. */
  | { kind: 'fatal'; error: SerializedError }
  | { kind: 'closed' };

/** Reads a partition's events through a log on this thread. */
export interface PartitionReads {
  iteratePartition(partition: number, from: number, limit: number): Iterable<EventEnvelope>;
  partitionHead(partition: number): number;
}

/**
 * Reads and encodes on this thread, one read per event-loop turn (a read is one chunk, so it holds the
 * thread no longer than one catch-up message did before chunks were shared).
 */
export class InlineChunkReader implements ChunkReader {
  readonly #log: PartitionReads;
  readonly onThread = false;
  #closed = false;

  constructor(log: PartitionReads) {
    this.#log = log;
  }

  read(partition: number, from: number, to: number): Promise<ChunkData> {
    return new Promise((resolve, reject) => {
      setImmediate(() => {
        if (this.#closed) return reject(closedError());
        try {
          const written = this.#log.partitionHead(partition);
          resolve(encodeChunk(partition, from, this.#log.iteratePartition(partition, from, to - from), to - from, written));
        } catch (err) {
          reject(err);
        }
      });
    });
  }

  start(): void {}

  async close(): Promise<void> {
    this.#closed = true;
  }
}

/** Only seen by reads still pending at shutdown; their clients are being closed with 1001 anyway. */
export function closedError(): RuntimeError {
  return new RuntimeError(ErrorCodes.Unavailable, 'the feed is closed');
}
