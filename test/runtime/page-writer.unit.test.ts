/**
 * The page writer (src/runtime/page-writer.ts): a page is staged only once the drain that completed it
 * is durable, from the events read back from the log; a page that cannot be read back whole is skipped,
 * never allowed to fail the drain that would carry it.
 */
import { describe, expect, it } from 'vitest';
import { EVENT_PAGE, type EventEnvelope, type LogReader, type BatchWriter } from '../../src/index.js';
import { PageWriter } from '../../src/runtime/page-writer.js';

const event = (stream: string, seq: number): EventEnvelope => ({ aggregateType: 'account', stream, type: 'Deposited', seq, data: { amount: 1 }, ts: seq, partition: 0, offset: seq, meta: {} });

/** A log stand-in: streams by id, `broken` ids throw on read; records what was staged. */
function fakeLog(streams: Record<string, number>, broken: string[] = []) {
  const staged: Array<{ stream: string; first: number }> = [];
  const log = {
    refreshReads() {},
    readStream(_t: string, id: string, from: number, limit: number) {
      if (broken.includes(id)) throw new Error(`corrupt record in ${id}`);
      const out: EventEnvelope[] = [];
      for (let s = from; s <= Math.min(streams[id] ?? 0, from + limit - 1); s++) out.push(event(id, s));
      return out;
    },
    stagePage(events: EventEnvelope[]) {
      staged.push({ stream: events[0]!.stream, first: events[0]!.seq });
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
    expect(() => w.stageDurable(log, writer, 1)).not.toThrow();
    expect(staged).toEqual([{ stream: 'ok', first: 1 }]);
    expect(w.pending).toBe(0);
  });
});
