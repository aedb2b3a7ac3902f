/**
 * Load generators for in-process commands.
 *
 * - `closedLoop`: `window` callers, each sending its next command as soon as the previous one is
 *   answered, for a fixed time. Measures capacity (commands/s).
 * - `openLoop`: commands are due at a fixed rate whether or not earlier ones were answered, and each
 *   latency runs from the moment the command was *due*, not from when it was sent: a stalled runtime
 *   cannot hide its stall by slowing the generator down (no coordinated omission).
 */

export interface ClosedLoopResult {
  ops: number;
  errors: number;
  seconds: number;
  rate: number;
  firstError: string | null;
}

/**
 * `latenciesMs`, when given, gets each answered command's time from send to answer (ms): at capacity,
 * that is mostly the time it queued behind the other `window - 1` callers' commands.
 */
export async function closedLoop(durationMs: number, window: number, issue: (i: number) => Promise<unknown>, latenciesMs?: number[]): Promise<ClosedLoopResult> {
  let next = 0;
  let ops = 0;
  let errors = 0;
  let firstError: string | null = null;
  const t0 = performance.now();
  const end = t0 + durationMs;
  const caller = async (): Promise<void> => {
    for (let sent = performance.now(); sent < end; sent = performance.now()) {
      try {
        await issue(next++);
        ops++;
        latenciesMs?.push(performance.now() - sent);
      } catch (err) {
        errors++;
        firstError ??= String((err as Error)?.message ?? err);
      }
    }
  };
  await Promise.all(Array.from({ length: window }, caller));
  const seconds = (performance.now() - t0) / 1000;
  return { ops, errors, seconds, rate: ops / seconds, firstError };
}

export interface OpenLoopResult {
  offered: number;
  achieved: number;
  sent: number;
  /** Commands not sent because `maxInFlight` were already waiting (the runtime was past its capacity). */
  shed: number;
  completed: number;
  errors: number;
  /** Milliseconds from due time to answer, one per completed command. */
  latenciesMs: Float64Array;
  firstError: string | null;
}

/**
 * `maxInFlight` bounds the backlog: past capacity, an unbounded open loop would queue the whole run and
 * then spend minutes draining it. Commands due while that many wait are shed (counted, never sent).
 */
export async function openLoop(rate: number, durationMs: number, issue: (i: number) => Promise<unknown>, maxInFlight = Math.max(1000, rate)): Promise<OpenLoopResult> {
  const total = Math.max(1, Math.floor((rate * durationMs) / 1000));
  const latencies = new Float64Array(total);
  let completed = 0;
  let errors = 0;
  let sent = 0;
  let due = 0;
  let shed = 0;
  let waiting = 0;
  let firstError: string | null = null;
  const inflight: Promise<void>[] = [];
  const t0 = performance.now();
  await new Promise<void>((resolve) => {
    // A 1 ms timer, not a setImmediate spin: a spinning generator would take a core from the runtime.
    const tick = (): void => {
      const now = performance.now();
      const upTo = Math.min(total, Math.floor(((now - t0) * rate) / 1000) + 1);
      for (; due < upTo; due++) {
        if (waiting >= maxInFlight) {
          shed++;
          continue;
        }
        const dueAt = t0 + (due * 1000) / rate;
        const i = sent++;
        waiting++;
        inflight.push(
          issue(i).then(
            () => {
              waiting--;
              latencies[completed++] = performance.now() - dueAt;
            },
            (err: unknown) => {
              waiting--;
              errors++;
              firstError ??= String((err as Error)?.message ?? err);
            },
          ),
        );
      }
      if (due >= total) resolve();
      else setTimeout(tick, 1);
    };
    tick();
  });
  await Promise.all(inflight);
  const seconds = (performance.now() - t0) / 1000;
  return { offered: rate, achieved: completed / seconds, sent, shed, completed, errors, latenciesMs: latencies.subarray(0, completed), firstError };
}

/** Exactly `count` commands through `window` concurrent callers (a warm-up that touches every aggregate once). */
export async function runCount(count: number, window: number, issue: (i: number) => Promise<unknown>): Promise<ClosedLoopResult> {
  let next = 0;
  let errors = 0;
  let firstError: string | null = null;
  const t0 = performance.now();
  const caller = async (): Promise<void> => {
    while (next < count) {
      try {
        await issue(next++);
      } catch (err) {
        errors++;
        firstError ??= String((err as Error)?.message ?? err);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(window, count) }, caller));
  const seconds = (performance.now() - t0) / 1000;
  return { ops: count - errors, errors, seconds, rate: (count - errors) / seconds, firstError };
}

export interface OpenLoopUntilResult {
  sent: number;
  shed: number;
  errors: number;
  firstError: string | null;
  seconds: number;
  /** Per answered command: milliseconds from due time to answer, and the answer's time (ms since the start). */
  latenciesMs: number[];
  answeredAtMs: number[];
}

/**
 * `openLoop` for as long as something else runs: commands are due at `rate` until `until` settles, each
 * latency from its due time (the lifecycle suite's load, for the length of an ingest). Bounded like
 * `openLoop`: commands due while `maxInFlight` wait are shed.
 */
export async function openLoopUntil(rate: number, until: Promise<unknown>, issue: (i: number) => Promise<unknown>, maxInFlight = Math.max(1000, rate)): Promise<OpenLoopUntilResult> {
  let stop = false;
  void until.then(
    () => (stop = true),
    () => (stop = true),
  );
  const latenciesMs: number[] = [];
  const answeredAtMs: number[] = [];
  let errors = 0;
  let sent = 0;
  let due = 0;
  let shed = 0;
  let waiting = 0;
  let firstError: string | null = null;
  const inflight = new Set<Promise<void>>();
  const t0 = performance.now();
  await new Promise<void>((resolve) => {
    // A 1 ms timer, as openLoop: a spinning generator would take a core from the runtime.
    const tick = (): void => {
      if (stop) return resolve();
      const now = performance.now();
      const upTo = Math.floor(((now - t0) * rate) / 1000) + 1;
      for (; due < upTo; due++) {
        if (waiting >= maxInFlight) {
          shed++;
          continue;
        }
        const dueAt = t0 + (due * 1000) / rate;
        const i = sent++;
        waiting++;
        const p: Promise<void> = issue(i).then(
          () => {
            waiting--;
            const at = performance.now();
            latenciesMs.push(at - dueAt);
            answeredAtMs.push(at - t0);
            inflight.delete(p);
          },
          (err: unknown) => {
            waiting--;
            errors++;
            firstError ??= String((err as Error)?.message ?? err);
            inflight.delete(p);
          },
        );
        inflight.add(p);
      }
      setTimeout(tick, 1);
    };
    tick();
  });
  await Promise.all(inflight);
  return { sent, shed, errors, firstError, seconds: (performance.now() - t0) / 1000, latenciesMs, answeredAtMs };
}
