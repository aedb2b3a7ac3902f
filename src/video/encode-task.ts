/**
 * The thread side of an encode: what a pool thread runs for one task (workers/encode-task.ts is its
 * entry). It wires the task's MessagePort to `runEncodeJob` (progress and renditions out, cancel in)
 * and keeps the shared gauge of running tasks, which is how tests and metrics see the pool's real
 * concurrency rather than what the reactor believes it dispatched.
 */
import type { EncodeOutcome, EncodeTask, EncodeTaskControl, EncodeTaskMessage } from './encode-protocol.js';
import { runEncodeJob } from './encode-job.js';

export async function runEncodeTask(task: EncodeTask): Promise<EncodeOutcome> {
  const gauge = new Int32Array(task.gauge);
  const running = Atomics.add(gauge, 0, 1) + 1;
  // Raise the high-water mark with a CAS loop: several threads may enter at once.
  for (let seen = Atomics.load(gauge, 1); running > seen; seen = Atomics.load(gauge, 1)) {
    if (Atomics.compareExchange(gauge, 1, seen, running) === seen) break;
  }
  const abort = new AbortController();
  const send = (m: EncodeTaskMessage): void => task.port.postMessage(m);
  task.port.on('message', (m: EncodeTaskControl) => {
    if (m.kind === 'cancel') abort.abort();
  });
  try {
    return await runEncodeJob(task.job, {
      signal: abort.signal,
      onProgress: (percent) => send({ kind: 'progress', percent }),
      onRendition: (rendition) => send({ kind: 'rendition', rendition }),
    });
  } finally {
    Atomics.sub(gauge, 0, 1);
    task.port.close();
  }
}
