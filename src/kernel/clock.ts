/**
 * The clock port: the one place `src/` reads wall-clock time. Everything else that needs "now" takes a
 * `Clock` (an option, defaulting to `systemClock`), so a test can hand in a fake one and time becomes
 * data, as it already is for deciders (`DecideContext.now`).
 *
 * Gotchas:
 * - A `Clock` is a function holder: it does not cross `postMessage`. Worker threads use their own
 *   `systemClock`; a fake clock reaches only code on the thread it was created on.
 * - Read it once per unit of work (a drain, a batch), never once per command on a hot path: callers pass
 *   the value they read down instead of reading again.
 * - `now()` is epoch milliseconds and may go backwards (NTP); durations that must not (rate limits,
 *   batching intervals) use a monotonic source (`performance.now()`), which is not what this port is for.
 */

export interface Clock {
  /** Wall-clock time, epoch milliseconds (what `Date.now()` answers). */
  now(): number;
}

/** The real clock. */
export const systemClock: Clock = { now: () => Date.now() };
