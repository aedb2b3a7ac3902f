/**
 * The reader thread's side of chunk-reader-thread.ts: opens the data dir's log (lmdb-js shares the native
 * environment the main thread opened: nothing is mapped twice) as the deciders see it, then answers each
 * read with an encoded chunk whose buffers are transferred to the main thread.
 *
 * Why `refreshReads` before every read: lmdb-js keeps a thread's read snapshot until a timer renews it,
 * and the main thread asks for events up to the feed's cursor, which it has just seen announced: an old
 * snapshot would read short (harmless, the client asks again, but slower).
 *
 * Gotchas: this thread only reads. It opens the log like an actor host does (not `readOnly`: lmdb-js
 * shares one environment per path, opened read-write by the runtime), so nothing here may write.
 */
import type { MessagePort } from 'node:worker_threads';
import { serializeError } from '../../kernel/index.js';
import { LmdbLog, type EventLog } from '../../log/index.js';
import { loadDeciders, versionedLog } from '../../runtime/index.js';
import type { ChunkReaderConfig, FromChunkReader, ToChunkReader } from './chunk-reader.js';
import { encodeChunk } from './encoded-chunk.js';

export async function serveChunkReads(port: MessagePort, config: ChunkReaderConfig): Promise<void> {
  const send = (m: FromChunkReader): void => (m.kind === 'chunk' ? port.postMessage(m, [m.data.body.buffer as ArrayBuffer, m.data.starts.buffer as ArrayBuffer]) : port.postMessage(m));
  let log: EventLog | null = null;
  try {
    const deciders = await loadDeciders(config.domainModules);
    log = versionedLog(LmdbLog.open(config.dataDir, { partitions: config.partitions }), deciders.values());
    send({ kind: 'ready' });
  } catch (err) {
    send({ kind: 'fatal', error: serializeError(err) });
  }
  port.on('message', (m: ToChunkReader) => {
    if (m.kind === 'close') {
      void (log ? log.close() : Promise.resolve()).finally(() => send({ kind: 'closed' }));
      log = null;
      return;
    }
    if (!log) return;
    try {
      log.refreshReads();
      const written = log.partitionHead(m.partition);
      send({ kind: 'chunk', id: m.id, data: encodeChunk(m.partition, m.from, log.iteratePartition(m.partition, m.from, m.to - m.from), m.to - m.from, written) });
    } catch (err) {
      send({ kind: 'failed', id: m.id, error: serializeError(err) });
    }
  });
}
