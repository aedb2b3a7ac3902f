/**
 * The trace rings (src/runtime/trace.ts): bounded per thread, the oldest spans overwritten and the loss
 * reported; counted enabling; nothing recorded while off.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Span, TRACE_CAPACITY, disableTrace, enableTrace, spanEnd, spanStart, traceClock, traceSince } from '../../src/runtime/trace.js';

afterEach(() => {
  // Leave the thread's recorder off whatever a test did.
  for (let i = 0; i < 4; i++) disableTrace();
});

describe('the trace rings', () => {
  it('keep at most TRACE_CAPACITY spans per thread and report that older ones were overwritten', () => {
    enableTrace('t');
    for (let i = 0; i < TRACE_CAPACITY + 500; i++) spanEnd(Span.drain, spanStart(), i);
    const all = traceSince(0);
    expect(all.spans).toHaveLength(TRACE_CAPACITY);
    expect(all.dropped).toBe(500);
    // The newest are kept, oldest first.
    expect(all.spans[0]!.count).toBe(500);
    expect(all.spans.at(-1)!.count).toBe(TRACE_CAPACITY + 499);
    // A collector that asks only for what is still in the ring has missed nothing.
    expect(traceSince(all.spans[0]!.end).dropped).toBe(0);
  });

  it('record nothing while off, and stay on until every enable has its disable', () => {
    expect(spanStart()).toBe(0);
    spanEnd(Span.drain, spanStart());
    expect(traceSince(0)).toEqual({ spans: [], dropped: 0 });
    enableTrace('a');
    enableTrace('b');
    disableTrace();
    const t0 = traceClock();
    spanEnd(Span.flush, spanStart(), 3);
    const { spans } = traceSince(0);
    expect(spans).toMatchObject([{ thread: 'a', kind: 'flush', count: 3 }]);
    expect(spans[0]!.start).toBeGreaterThanOrEqual(t0);
    disableTrace();
    expect(spanStart()).toBe(0);
    expect(traceSince(0).spans).toEqual([]);
  });
});
