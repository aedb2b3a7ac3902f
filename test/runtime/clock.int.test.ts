/**
 * Time is data: the runtime's `clock` option gives each command its time, so events' `ts`, the deciders'
 * `context.now` and the time machine's `at` can be tested without waiting (STYLE.md, a fake clock).
 */
import { describe, expect, it } from 'vitest';
import { fakeClock } from '../support/fake-clock.js';
import { rejectionOf } from '../support/errors.js';
import { useRuntimes } from '../support/runtimes.js';

describe('the runtime clock', () => {
  const runtimes = useRuntimes('clock');

  it('stamps events with its time and answers the time machine by it, never going back within a stream', async () => {
    const clock = fakeClock(Date.UTC(2031, 5, 1));
    const runtime = await runtimes.start({ clock });
    const t0 = clock.now();
    await runtime.execute('account', 'c1', { type: 'Open', data: { owner: 'Grace' } });
    clock.advance(60_000);
    await runtime.execute('account', 'c1', { type: 'Deposit', data: { amount: 10 } });
    clock.advance(60_000);
    await runtime.execute('account', 'c1', { type: 'Deposit', data: { amount: 5 } });
    clock.advance(-3_600_000); // a wall clock stepped back: the stream's time does not
    await runtime.execute('account', 'c1', { type: 'Deposit', data: { amount: 1 } });

    const ts = (await runtime.history('account', 'c1')).map((e) => e.ts);
    expect(ts).toEqual([t0, t0 + 60_000, t0 + 120_000, t0 + 120_000]);
    expect((await runtime.load('account', 'c1', { at: t0 + 90_000 })).state).toMatchObject({ balance: 10 });
    expect((await runtime.load('account', 'c1', { at: new Date(t0 + 60_000).toISOString() })).version).toBe(2);
    expect((await rejectionOf(runtime.load('account', 'c1', { at: t0 - 1 }))).code).toBe('NotFound');
  });
});
