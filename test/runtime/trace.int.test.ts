/**
 * The runtime's pause timeline (`createRuntime({ trace: true })`, `runtime.traceSpans`): with the trace
 * on, every thread records spans of each kind of work that can hold a command, its GC pauses and its
 * event-loop stalls, on one clock; with it off, nothing is recorded anywhere.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { SPAN_KINDS, traceClock, type SpanKind } from '../../src/runtime/index.js';
import { ON_DISK, useRuntimes } from '../support/runtimes.js';

/** A full GC on this thread, whether or not node was started with --expose-gc. */
function forceGc(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

describe('the pause trace', () => {
  const runtimes = useRuntimes('trace');

  it('records a span of every kind of the command path, of GC and of a held event loop, on one clock', async () => {
    const before = traceClock();
    const rt = await runtimes.start({ trace: true, maxLiveActors: 4, snapshotEvery: 2, stateCacheSize: 0, coldLoads: 'owner' });
    const ids = Array.from({ length: 20 }, (_, i) => `acct-${i}`);
    await Promise.all(ids.map((id) => rt.execute('account', id, { type: 'Open', data: { owner: id } })));
    // More actors than maxLiveActors: drains passivate, and the next round hydrates them again.
    for (let round = 0; round < 3; round++) await Promise.all(ids.map((id) => rt.execute('account', id, { type: 'Deposit', data: { amount: 1 } })));
    // A stream completing a page of 64 events: a later drain writes the page.
    for (let i = 0; i < 66; i++) await rt.execute('account', 'acct-0', { type: 'Deposit', data: { amount: 1 } });
    await rt.load('account', 'acct-1');
    forceGc();
    // Hold this thread's event loop for a while (the probe fires late).
    const until = performance.now() + 60;
    while (performance.now() < until);
    await new Promise((r) => setTimeout(r, 100));

    const { spans, dropped } = await rt.traceSpans();
    const after = traceClock();
    expect(dropped).toBe(0);
    const kinds = new Set<SpanKind>(spans.map((s) => s.kind));
    const expected: SpanKind[] = ['drain', 'commit', 'flush', 'pages', 'snapshot', 'passivate', 'hydrate', 'projection', 'replies', 'send', 'load', 'gc', 'loop-delay'];
    // The LMDB log splits each flush wait: until the transaction is visible, then until it is on disk.
    if (ON_DISK) expected.push('log-commit', 'fsync');
    for (const k of expected) expect(kinds, `a ${k} span`).toContain(k);
    expect(SPAN_KINDS).toEqual(expect.arrayContaining(expected));
    for (const s of spans) {
      // One clock for every thread: each span lies within the test's own window of that clock.
      expect(s.start, `${s.thread} ${s.kind}`).toBeGreaterThanOrEqual(before - 1);
      expect(s.end, `${s.thread} ${s.kind}`).toBeLessThanOrEqual(after + 1);
      expect(s.end).toBeGreaterThanOrEqual(s.start);
    }
    // One list in order of start across every thread (the workers send columns, merged on the main thread).
    for (let i = 1; i < spans.length; i++) expect(spans[i]!.start).toBeGreaterThanOrEqual(spans[i - 1]!.start);
    for (const s of spans) if (s.kind !== 'loop-delay') expect(s.cpuMs, `${s.kind} carries no cpuMs`).toBeUndefined();
    // Workers are threads of their own on LMDB; the memory log runs its hosts on the main thread.
    const threads = new Set(spans.filter((s) => s.kind === 'drain').map((s) => s.thread));
    expect([...threads].sort()).toEqual(ON_DISK ? ['worker-0', 'worker-1'] : ['main']);
    expect(spans.some((s) => s.kind === 'gc' && s.thread === 'main')).toBe(true);
    const held = spans.filter((s) => s.kind === 'loop-delay' && s.thread === 'main');
    expect(held.length).toBeGreaterThan(0);
    for (const s of held) expect(typeof s.cpuMs).toBe('number');
    // The drains' counts are the commands they decided: together, every command sent.
    const decided = spans.filter((s) => s.kind === 'drain').reduce((n, s) => n + s.count, 0);
    expect(decided).toBe(20 + 3 * 20 + 66);

    // Collecting from a point in time returns only spans that ended after it.
    const later = await rt.traceSpans(after);
    for (const s of later.spans) expect(s.end).toBeGreaterThan(after);
  });

  it('records nothing in any thread when the trace is off', async () => {
    const rt = await runtimes.start({ maxLiveActors: 4, snapshotEvery: 2 });
    await Promise.all(Array.from({ length: 20 }, (_, i) => rt.execute('account', `acct-${i}`, { type: 'Open', data: { owner: 'o' } })));
    forceGc();
    const until = performance.now() + 30;
    while (performance.now() < until);
    await new Promise((r) => setTimeout(r, 50));
    expect(await rt.traceSpans()).toEqual({ spans: [], dropped: 0 });
  });

  it('rejects a trace option that is not a boolean', async () => {
    await expect(runtimes.start({ trace: 'yes' as unknown as boolean })).rejects.toMatchObject({ code: 'InvalidOptions' });
  });
});
