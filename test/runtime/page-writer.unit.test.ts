/**
 * The page writer (src/runtime/page-writer.ts): a page is staged only once the drain that completed it
 * is durable, copied from the events as stored; a page the log cannot build whole is skipped, never
 * allowed to fail the drain that would carry it; a drain carries at most twice the pages its own events
 * complete on average (at least one), so a wave of pages is spread over the drains after it.
 */
import { describe, expect, it } from 'vitest';
import { EVENT_PAGE, type EventEnvelope, type LogReader, type BatchWriter } from '../../src/index.js';
import { PageWriter } from '../../src/runtime/page-writer.js';

const event = (stream: string, seq: number): EventEnvelope => ({ aggregateType: 'account', stream, type: 'Deposited', seq, data: { amount: 1 }, ts: seq, partition: 0, offset: seq, meta: {} });

/** A log stand-in: stream lengths by id, `broken` ids throw on read; records what was staged. */
function fakeLog(streams: Record<string, number>, broken: string[] = []) {
  const staged: Array<{ stream: string; first: number }> = [];
  const log = {
    refreshReads() {},
    stageStoredPage(_t: string, id: string, first: number) {
      if (broken.includes(id)) throw new Error(`corrupt record in ${id}`);
      if ((streams[id] ?? 0) < first + EVENT_PAGE - 1) return null;
      staged.push({ stream: id, first });
      return { puts: [] };
    },
  };
  return { log: log as unknown as LogReader, writer: log as unknown as BatchWriter, staged };
}

describe('page writer', () => {
  it('stages a page only once the drain that completed it is durable', () => {
    const { log, writer, staged } = fakeLog({ a: 2 * EVENT_PAGE + 3 });
    const w = new PageWriter();
    w.note([event('a', EVENT_PAGE - 1), event('a', EVENT_PAGE)], 1);
    w.note([event('a', 2 * EVENT_PAGE)], 2);
    w.note([event('a', 2 * EVENT_PAGE + 1)], 3); // completes nothing
    expect(w.pending).toBe(2);
    expect(w.stageDurable(log, writer, 0)).toHaveLength(0);
    expect(w.stageDurable(log, writer, 1)).toHaveLength(1);
    expect(staged).toEqual([{ stream: 'a', first: 1 }]);
    expect(w.stageDurable(log, writer, 3)).toHaveLength(1);
    expect(staged).toEqual([{ stream: 'a', first: 1 }, { stream: 'a', first: EVENT_PAGE + 1 }]);
    expect(w.pending).toBe(0);
  });

  it('skips pages it cannot read back whole, and still stages the others', () => {
    const { log, writer, staged } = fakeLog({ ok: EVENT_PAGE, short: EVENT_PAGE - 5, bad: EVENT_PAGE }, ['bad']);
    const w = new PageWriter();
    w.note([event('bad', EVENT_PAGE)], 1);
    w.note([event('short', EVENT_PAGE)], 1); // e.g. its batch failed: the events are not in the log
    w.note([event('ok', EVENT_PAGE)], 1);
    expect(() => w.stageDurable(log, writer, 1, 10)).not.toThrow();
    expect(staged).toEqual([{ stream: 'ok', first: 1 }]);
    expect(w.pending).toBe(0);
  });

  it('lets a drain carry twice the pages its events complete on average, at least one: a wave of pages is spread over the drains after it', () => {
    const ids = Array.from({ length: 40 }, (_, i) => `s${i}`);
    const { log, writer, staged } = fakeLog(Object.fromEntries(ids.map((id) => [id, EVENT_PAGE])));
    const w = new PageWriter();
    // One drain completes forty pages at once (streams written at the same pace cross a boundary together).
    w.note(ids.map((id) => event(id, EVENT_PAGE)), 1);
    expect(w.budget).toBe(Math.ceil((2 * 40) / EVENT_PAGE));
    expect(w.stageDurable(log, writer, 0)).toHaveLength(0); // that drain is not durable yet
    // A drain of one event carries one page, a drain of 3 x EVENT_PAGE events six...
    w.note([event('other', 5)], 2);
    expect(w.budget).toBe(1);
    expect(w.stageDurable(log, writer, 1)).toHaveLength(1);
    w.note(Array.from({ length: 3 * EVENT_PAGE }, (_, i) => event(`b${i}`, 5)), 3);
    expect(w.budget).toBe(6);
    expect(w.stageDurable(log, writer, 2)).toHaveLength(6);
    // ...a drain with no events still one; the budget counts only the events since the last drain.
    expect(w.budget).toBe(1);
    expect(w.stageDurable(log, writer, 3)).toHaveLength(1);
    expect(w.pending).toBe(32);
    // Closing writes what is left (the drain pipeline's `finish` passes no budget).
    expect(w.stageDurable(log, writer, 3, Number.MAX_SAFE_INTEGER)).toHaveLength(32);
    expect(staged.map((s) => s.stream)).toEqual(ids);
  });
});
