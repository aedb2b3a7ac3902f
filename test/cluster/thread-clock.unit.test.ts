/**
 * The conversion of the main thread's lease deadlines to a worker's clock (src/runtime/thread-clock.ts):
 * whatever the true offset between the two threads' `performance.now()` and however long the exchanges
 * took, a converted deadline is never later than the true one, and more exchanges only tighten it.
 */
import { Worker } from 'node:worker_threads';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { conservativeOffset, ThreadClock } from '../../src/runtime/thread-clock.js';

describe('ThreadClock', () => {
  it('converts nothing before a sample', () => {
    const clock = new ThreadClock();
    expect(clock.calibrated).toBe(false);
    expect(clock.toThread(1_000)).toBeNull();
    expect(conservativeOffset([])).toBeNull();
  });

  it('property: for any true offset and any exchange timing, a deadline is never read later than it is, and the bound is off by at most the shortest round trip', () => {
    const exchange = fc.record({ sentAt: fc.double({ min: 0, max: 1e6, noNaN: true }), trip: fc.double({ min: 0, max: 500, noNaN: true }), at: fc.double({ min: 0, max: 1, noNaN: true }) });
    fc.assert(
      fc.property(fc.double({ min: -1e7, max: 1e7, noNaN: true }), fc.array(exchange, { minLength: 1, maxLength: 6 }), fc.double({ min: 0, max: 1e7, noNaN: true }), (offset, exchanges, deadline) => {
        const clock = new ThreadClock();
        for (const e of exchanges) {
          // The worker read its clock somewhere within the round trip (main-thread times).
          const readAt = e.sentAt + e.trip * e.at;
          clock.sample({ sentAt: e.sentAt, workerNow: readAt + offset, receivedAt: e.sentAt + e.trip });
        }
        const converted = clock.toThread(deadline)!;
        const truth = deadline + offset;
        const shortest = Math.min(...exchanges.map((e) => e.trip));
        // Tolerances: floating-point sums of numbers up to 1e7.
        expect(converted).toBeLessThanOrEqual(truth + 1e-6);
        expect(truth - converted).toBeLessThanOrEqual(shortest + 1e-6);
      }),
    );
  });

  it('keeps the tightest bound: a looser exchange changes nothing, a tighter one moves the deadline on, never past the truth', () => {
    const clock = new ThreadClock();
    clock.sample({ sentAt: 100, workerNow: 5, receivedAt: 101 }); // offset in [-96, -95]
    expect(clock.toThread(1_000)).toBe(904);
    clock.sample({ sentAt: 200, workerNow: 120, receivedAt: 250 }); // offset in [-130, -80]: looser
    expect(clock.toThread(1_000)).toBe(904);
    clock.sample({ sentAt: 300, workerNow: 204.5, receivedAt: 300 }); // offset exactly -95.5
    expect(clock.toThread(1_000)).toBe(904.5);
  });

  it('measured against a real worker thread: its lease deadline falls due no later than the main thread\'s', async () => {
    // The worker answers its performance.now(); a deadline converted with that bound must be due on the
    // worker's clock no later than on the main thread's.
    const worker = new Worker('const { parentPort } = require("node:worker_threads"); parentPort.on("message", (m) => m === "close" ? process.exit(0) : parentPort.postMessage(performance.now()));', { eval: true });
    try {
      const clock = new ThreadClock();
      const ask = (): Promise<number> => new Promise((resolve) => {
        worker.once('message', resolve);
        worker.postMessage('now');
      });
      for (let i = 0; i < 3; i++) {
        const sentAt = performance.now();
        const workerNow = await ask();
        clock.sample({ sentAt, workerNow, receivedAt: performance.now() });
      }
      const deadline = performance.now() + 50;
      const onWorker = clock.toThread(deadline)!;
      // Ask the worker for its clock right after the main thread passed the deadline: it must be past it too.
      while (performance.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      expect(await ask()).toBeGreaterThanOrEqual(onWorker);
    } finally {
      worker.postMessage('close');
    }
  });
});
