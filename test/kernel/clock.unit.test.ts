/** The clock port: the system clock is wall-clock epoch ms; a fake one (test/support) says what it is told. */
import { describe, expect, it } from 'vitest';
import { systemClock } from '../../src/kernel/index.js';
import { fakeClock } from '../support/fake-clock.js';

describe('the clock', () => {
  it('reads wall-clock epoch milliseconds from the system', () => {
    const before = Date.now();
    const t = systemClock.now();
    expect(Number.isSafeInteger(t)).toBe(true);
    expect(t).toBeGreaterThanOrEqual(before);
    expect(t).toBeLessThanOrEqual(Date.now());
  });

  it('can be faked: set, moved forward and back', () => {
    const clock = fakeClock(1_000);
    expect(clock.now()).toBe(1_000);
    clock.advance(250);
    expect(clock.now()).toBe(1_250);
    clock.advance(-50);
    expect(clock.now()).toBe(1_200);
    clock.set(42);
    expect(clock.now()).toBe(42);
  });
});
