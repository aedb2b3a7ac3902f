/**
 * Holds the LMDB write lock of a data dir from another thread of this process, so a test can freeze
 * every commit at a chosen moment (readers keep working: LMDB readers never wait for the writer). Used to
 * make "what is reported before its commit is visible" observable without racing the clock.
 *
 * The thread opens the same `log.mdb` (lmdb-js shares one native environment per path within a process)
 * and sits inside a synchronous write transaction until `release()`.
 */
import { Worker } from 'node:worker_threads';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const lmdbEntry = createRequire(import.meta.url).resolve('lmdb');

const holder = `
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

export interface WriteLock {
  /** Lets the writer go; resolves once the holding thread has ended. */
  release(): Promise<void>;
}

export async function holdWriteLock(dataDir: string): Promise<WriteLock> {
  const signal = new SharedArrayBuffer(4);
  const worker = new Worker(holder, { eval: true, workerData: { lmdb: lmdbEntry, path: join(dataDir, 'log.mdb'), signal } });
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    worker.once('message', () => resolve());
    worker.once('error', reject);
  });
  let released = false;
  return {
    async release() {
      if (released) return;
      released = true;
      const flag = new Int32Array(signal);
      Atomics.store(flag, 0, 1);
      Atomics.notify(flag, 0);
      await exited;
    },
  };
}
