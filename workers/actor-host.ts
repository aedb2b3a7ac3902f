/** Thin worker entry: runs an ActorHost for the partitions in `workerData`. */
import { parentPort, workerData } from 'node:worker_threads';
import { ActorHost } from '../src/runtime/actor-host.js';
import type { ActorHostConfig, FromWorker, ToWorker } from '../src/runtime/protocol.js';
import { serializeError } from '../src/kernel/index.js';

const port = parentPort!;
/**
 * What the host sends in one turn goes in one postMessage: a commit's replies and its views' progress
 * events (one per view) are sent in the same turn, so a view's checkpoint reaches the main thread with
 * the reply, not a message later. Measured: no CPU difference beyond noise (bench/README, "One message
 * per turn from a worker"): the first postMessage, which wakes the receiver, is the costly one. Flushed
 * in a microtask, so nothing waits for a later turn; reply buffers are transferred, not copied.
 */
let outbox: FromWorker[] = [];
const flush = (): void => {
  const messages = outbox;
  outbox = [];
  const transfer = messages.flatMap((m) => (m.kind === 'replies' ? [m.packed.buffer] : []));
  port.postMessage(messages.length === 1 ? messages[0] : ({ kind: 'batch', messages } satisfies FromWorker), transfer);
};
const send = (m: FromWorker): void => {
  if (outbox.push(m) === 1) queueMicrotask(flush);
};
const config = (workerData as { config: ActorHostConfig }).config;

// lmdb-js rejects the promise of every write in a failed transaction, including writes queued by code
// that awaits a later one of the same batch (the log's commit and the views' `committed()` report the
// failure and stop writing). Such a duplicate must not end the thread: the host keeps serving reads
// until storage-recovery.ts replaces it. Any other unhandled rejection still crashes the thread.
process.on('unhandledRejection', (reason) => {
  if (typeof reason === 'object' && reason !== null && 'commitError' in reason) return;
  throw reason;
});

try {
  const host = await ActorHost.start(config, send);
  // After 'closed' is sent the router ends this thread; nothing native is busy by then (node #34567).
  port.on('message', (m: ToWorker) => host.handle(m));
} catch (err) {
  send({ kind: 'fatal', error: serializeError(err) });
  process.exitCode = 1;
}
