/** A `Clock` that says what it is told: time in tests is data (STYLE.md, "a fake clock where time matters"). */
import type { Clock } from '../../src/kernel/index.js';

export interface FakeClock extends Clock {
  /** Sets the time (epoch ms). */
  set(ms: number): void;
  /** Moves the time by `ms` (negative goes back, as a wall clock may). */
  advance(ms: number): void;
}

export function fakeClock(startMs = Date.UTC(2030, 0, 1)): FakeClock {
  let t = startMs;
  return {
    now: () => t,
    set: (ms) => {
      t = ms;
    },
    advance: (ms) => {
      t += ms;
    },
  };
}
