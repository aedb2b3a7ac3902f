/**
 * The catch-up chunks: read once (however many clients ask at the same time), kept up to a byte cap, and
 * found again by every client that reaches the same place, so N clients catching up over the same events
 * cost one read and one encoding, not N.
 *
 * Where chunks start and end: a read starts at the asking client's offset and stops at the next multiple
 * of `chunkEvents` (or at the feed's cursor, which is never passed: see client.ts). Clients from `start`
 * thus all ask for the same aligned chunks and meet in the cache; a client that resumed from an arbitrary
 * position reads one short chunk up to the next boundary and is aligned from then on. A chunk cut short by
 * the cursor (the tail of a partition) ends where the next read starts, so clients that come after meet
 * there too. Found by: a chunk starting exactly at the offset, else the aligned chunk around it if it
 * reaches past the offset.
 *
 * Bounded: at most `capBytes` of chunks (and their filtered cuts) are kept, least recently used evicted
 * first; in-flight reads are at most one per active catch-up plus one read-ahead each, keyed, so asking
 * twice does not read twice. A short read (the log had fewer events than the cursor said) is handed to its
 * askers but not kept.
 */
import type { ChunkReader } from './chunk-reader.js';
import { EncodedChunk } from './encoded-chunk.js';

export class ChunkStore {
  readonly #reader: ChunkReader;
  readonly #chunkEvents: number;
  readonly #capBytes: number;
  /** By `partition:first`, in least-recently-used order (Map iteration order: oldest first). */
  readonly #chunks = new Map<string, EncodedChunk>();
  readonly #reading = new Map<string, Promise<EncodedChunk>>();
  #bytes = 0;
  readonly #grow = (n: number): void => {
    this.#bytes += n;
  };
  /** Reads made since the store was created (for tests: shared chunks are read once). */
  reads = 0;

  constructor(reader: ChunkReader, chunkEvents: number, capBytes: number) {
    this.#reader = reader;
    this.#chunkEvents = chunkEvents;
    this.#capBytes = capBytes;
  }

  /** Bytes held by kept chunks. */
  get bytes(): number {
    return this.#bytes;
  }

  /** A kept chunk of `partition` holding `offset`, if any. */
  find(partition: number, offset: number): EncodedChunk | undefined {
    const exact = this.#touch(`${partition}:${offset}`);
    if (exact) return exact;
    const aligned = offset - (offset % this.#chunkEvents);
    if (aligned === offset) return undefined;
    const around = this.#touch(`${partition}:${aligned}`);
    return around && around.end > offset ? around : undefined;
  }

  /** The chunk of `partition` from `offset`, up to the next boundary and at most to `limit`: read once. */
  load(partition: number, offset: number, limit: number): Promise<EncodedChunk> {
    const key = `${partition}:${offset}`;
    const reading = this.#reading.get(key);
    if (reading) return reading;
    const to = Math.min(limit, offset - (offset % this.#chunkEvents) + this.#chunkEvents);
    this.reads++;
    const read = this.#reader.read(partition, offset, to).then(
      (data) => {
        this.#reading.delete(key);
        const chunk = new EncodedChunk(data, data.offsets ?? null);
        if (chunk.size > 0 && chunk.end === to) this.#keep(key, chunk);
        return chunk;
      },
      (err: unknown) => {
        this.#reading.delete(key);
        throw err;
      },
    );
    this.#reading.set(key, read);
    return read;
  }

  /** Starts reading the chunk a client will ask for next, unless it is kept or being read already. */
  readAhead(partition: number, offset: number, limit: number): void {
    if (offset >= limit || this.#reading.has(`${partition}:${offset}`) || this.find(partition, offset)) return;
    // Its asker, if it comes, sees the error; nobody else needs to.
    this.load(partition, offset, limit).catch(() => undefined);
  }

  clear(): void {
    for (const c of this.#chunks.values()) c.track(null);
    this.#chunks.clear();
    this.#bytes = 0;
  }

  #touch(key: string): EncodedChunk | undefined {
    const c = this.#chunks.get(key);
    if (c) {
      this.#chunks.delete(key);
      this.#chunks.set(key, c);
    }
    return c;
  }

  #keep(key: string, chunk: EncodedChunk): void {
    if (this.#capBytes <= 0) return;
    const old = this.#chunks.get(key);
    if (old) this.#drop(key, old);
    this.#chunks.set(key, chunk);
    this.#bytes += chunk.bytes;
    chunk.track(this.#grow);
    // The newest stays even alone over the cap: its askers are about to send it.
    for (const [k, c] of this.#chunks) {
      if (this.#bytes <= this.#capBytes || c === chunk) break;
      this.#drop(k, c);
    }
  }

  #drop(key: string, chunk: EncodedChunk): void {
    this.#chunks.delete(key);
    chunk.track(null);
    this.#bytes -= chunk.bytes;
  }
}
