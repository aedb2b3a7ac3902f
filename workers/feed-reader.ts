/** Thin worker entry: reads and encodes the feed's catch-up chunks off the main thread (src/server/feed/chunk-reader-worker.ts). */
import { parentPort, workerData } from 'node:worker_threads';
import { serveChunkReads } from '../src/server/feed/chunk-reader-worker.js';
import type { ChunkReaderConfig } from '../src/server/feed/chunk-reader.js';

await serveChunkReads(parentPort!, (workerData as { config: ChunkReaderConfig }).config);
