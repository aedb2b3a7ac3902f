/** The console's sampler, with a fake clock and fake sources: what one sample says, and the bounded ring. */
import { describe, expect, it } from 'vitest';
import { ConsoleStats } from '../../src/server/console-stats.js';
import { fakeClock } from '../support/fake-clock.js';

function sources() {
  const s = { heads: [0, 0], feedLag: [0, 0], views: { balances: [0, 0] } as Record<string, number[]> };
  return {
    s,
    sources: { heads: () => s.heads, feedLag: () => s.feedLag, views: () => Object.keys(s.views), viewLag: (name: string) => s.views[name]! },
  };
}

describe('ConsoleStats', () => {
  it('samples the events in the log, the throughput since the last sample, and the lag summed over partitions', () => {
    const clock = fakeClock(1_000_000);
    const { s, sources: src } = sources();
    const stats = new ConsoleStats(src, clock, { intervalMs: 1000, capacity: 10 });
    expect(stats.sample()).toEqual({ t: 1_000_000, events: 0, eventsPerSecond: 0, feedLag: 0, viewLag: { balances: 0 } });
    s.heads = [30, 20];
    s.feedLag = [3, 1];
    s.views = { balances: [5, 0], videos: [0, 2] };
    clock.advance(2000);
    expect(stats.sample()).toEqual({ t: 1_002_000, events: 50, eventsPerSecond: 25, feedLag: 4, viewLag: { balances: 5, videos: 2 } });
  });

  it('never reports a negative or infinite throughput when the wall clock stands still or steps back', () => {
    const clock = fakeClock();
    const { s, sources: src } = sources();
    const stats = new ConsoleStats(src, clock);
    stats.sample();
    s.heads = [10, 0];
    expect(stats.sample().eventsPerSecond).toBe(0);
    clock.advance(-5000);
    s.heads = [20, 0];
    expect(stats.sample().eventsPerSecond).toBe(0);
  });

  it('keeps the last `capacity` samples, oldest first, and answers only newer ones for `since`', () => {
    const clock = fakeClock(0);
    const stats = new ConsoleStats(sources().sources, clock, { capacity: 3 });
    for (let i = 1; i <= 5; i++) {
      clock.set(i * 1000);
      stats.sample();
    }
    expect(stats.samples().map((x) => x.t)).toEqual([3000, 4000, 5000]);
    expect(stats.samples(3000).map((x) => x.t)).toEqual([4000, 5000]);
    expect(stats.samples(5000)).toEqual([]);
  });

  it('bounds its options: at least 50 ms between samples and 2 samples kept', () => {
    const stats = new ConsoleStats(sources().sources, fakeClock(), { intervalMs: 1, capacity: 0 });
    expect([stats.intervalMs, stats.capacity]).toEqual([50, 2]);
    const defaults = new ConsoleStats(sources().sources, fakeClock());
    expect([defaults.intervalMs, defaults.capacity]).toEqual([2000, 300]);
  });

  it('skips a sample its sources cannot give (a closing runtime) instead of throwing from its timer', async () => {
    let calls = 0;
    const stats = new ConsoleStats(
      {
        heads: () => {
          calls++;
          throw new Error('closed');
        },
        feedLag: () => [],
        views: () => [],
        viewLag: () => [],
      },
      fakeClock(),
      { intervalMs: 50 },
    );
    stats.start();
    await expect.poll(() => calls).toBeGreaterThanOrEqual(2);
    stats.stop();
    expect(stats.samples()).toEqual([]);
  });
});
