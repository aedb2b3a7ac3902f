/**
 * Other threads on the same LMDB environment, to make commit-visibility bugs observable without racing
 * the clock (lmdb-js shares one native environment per path within a process):
 * - `holdWriteLock(dir)`: sits inside a write transaction until released, freezing every commit while
 *   readers keep reading (LMDB readers never wait for the writer).
 * - `watchCommit(dir, partition, offset)`: polls with fresh read snapshots until the partition-index
 *   run starting at that offset is committed (pass the partition's head: the next commit's run of that
 *   partition starts there); `blockUntilCommitted()` then blocks the calling thread (Atomics.wait)
 *   until it is, plus a grace period for the committing worker to post its messages. Blocking the main
 *   thread that way keeps it inside one event-loop turn across another thread's commit.
 */
import { Worker } from 'node:worker_threads';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const lmdbEntry = createRequire(import.meta.url).resolve('lmdb');

const lockHolder = `
const { parentPort, workerData } = require('node:worker_threads');
const { open } = require(workerData.lmdb);
const root = open({ path: workerData.path, maxDbs: 16, noSync: false, useWritemap: false });
const signal = new Int32Array(workerData.signal);
root.transactionSync(() => {
  parentPort.postMessage('locked');
  Atomics.wait(signal, 0, 0);
});
root.close().then(() => parentPort.postMessage('released'));
`;

const commitWatcher = `
const { parentPort, workerData } = require('node:worker_threads');
const { open } = require(workerData.lmdb);
const root = open({ path: workerData.path, maxDbs: 16, noSync: false, useWritemap: false });
const partitions = root.openDB('partitions', { encoding: 'binary', keyEncoding: 'ordered-binary' });
const signal = new Int32Array(workerData.signal);
const nap = new Int32Array(new SharedArrayBuffer(4));
parentPort.postMessage('watching');
for (;;) {
  root.resetReadTxn();
  if (partitions.getBinary([workerData.partition, workerData.offset]) !== undefined) break;
  Atomics.wait(nap, 0, 0, 1);
}
Atomics.wait(nap, 0, 0, workerData.graceMs);
Atomics.store(signal, 0, 1);
Atomics.notify(signal, 0);
root.close();
`;

function start(code: string, dataDir: string, extra: Record<string, unknown>): { worker: Worker; signal: SharedArrayBuffer; ready: Promise<void>; exited: Promise<void> } {
  const signal = new SharedArrayBuffer(4);
  const worker = new Worker(code, { eval: true, workerData: { lmdb: lmdbEntry, path: join(dataDir, 'log.mdb'), signal, ...extra } });
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  const ready = new Promise<void>((resolve, reject) => {
    worker.once('message', () => resolve());
    worker.once('error', reject);
  });
  return { worker, signal, ready, exited };
}

export interface WriteLock {
  /** Lets the writer go; resolves once the holding thread has ended. */
  release(): Promise<void>;
}

export async function holdWriteLock(dataDir: string): Promise<WriteLock> {
  if (!dataDir) throw new Error('holdWriteLock needs a data dir (a memory log has none)');
  const t = start(lockHolder, dataDir, {});
  await t.ready;
  let released = false;
  return {
    async release() {
      if (released) return;
      released = true;
      const flag = new Int32Array(t.signal);
      Atomics.store(flag, 0, 1);
      Atomics.notify(flag, 0);
      await t.exited;
    },
  };
}

export interface CommitWatch {
  /** Blocks this thread until the watched event is committed and the grace period passed (or `timeoutMs`). */
  blockUntilCommitted(timeoutMs?: number): 'ok' | 'timed-out';
  /** Resolves once the watching thread has ended. */
  readonly done: Promise<void>;
}

export async function watchCommit(dataDir: string, partition: number, offset: number, graceMs = 200): Promise<CommitWatch> {
  const t = start(commitWatcher, dataDir, { partition, offset, graceMs });
  await t.ready;
  return {
    blockUntilCommitted(timeoutMs = 30_000) {
      return Atomics.wait(new Int32Array(t.signal), 0, 0, timeoutMs) === 'timed-out' ? 'timed-out' : 'ok';
    },
    done: t.exited,
  };
}
