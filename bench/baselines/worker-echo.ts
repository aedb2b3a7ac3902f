/**
 * Baseline `worker-echo`: one postMessage round trip to a bare worker thread that answers every
 * message at once, with the same shapes `runtime.load` sends and receives. It is the floor of any read
 * that goes through the owning worker, whatever the runtime does inside.
 */
import { Worker } from 'node:worker_threads';
import { timeEach } from '../support/stats.js';

const ECHO = `
const { parentPort } = require('node:worker_threads');
parentPort.on('message', (m) => parentPort.postMessage({ kind: 'loaded', reply: { rid: m.rid, ok: true, result: { version: 1000000, state: { owner: 'owner', balance: 999999, open: true } } } }));
`;

/** Per-call microseconds of `n` sequential round trips. */
export async function workerEcho(n: number): Promise<Float64Array> {
  const worker = new Worker(ECHO, { eval: true });
  try {
    let waiting: ((v: unknown) => void) | null = null;
    worker.on('message', (m) => waiting?.(m));
    const roundTrip = (i: number): Promise<unknown> =>
      new Promise((resolve) => {
        waiting = resolve;
        worker.postMessage({ kind: 'load', rid: i, aggregateType: 'account', id: 'h-1000000' });
      });
    return await timeEach(n, Math.min(1000, n), roundTrip);
  } finally {
    await worker.terminate();
  }
}
