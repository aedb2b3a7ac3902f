/**
 * Log positions (kernel/position.ts): one text format for the feed, command answers and the views, the
 * next offset of every partition joined by dots, and one parser. The older `<partition>:<offset>` token
 * is read as the position just after that event.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatPosition, formatPositionAfter, parsePosition, positionAfter, positionReached } from '../../src/kernel/index.js';
import { rejectionOf } from '../support/errors.js';

describe('a log position', () => {
  it('is written as the next offset of every partition joined by dots, and parsed back', () => {
    expect(formatPosition([12, 0, 7, 3])).toBe('12.0.7.3');
    expect(parsePosition('12.0.7.3', 4)).toEqual([12, 0, 7, 3]);
    expect(parsePosition('0', 1)).toEqual([0]);
  });

  it('round-trips through its text form for any partition count and offsets (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.nat({ max: Number.MAX_SAFE_INTEGER }), { minLength: 1, maxLength: 64 }), (next) => {
        expect(parsePosition(formatPosition(next), next.length)).toEqual(next);
      }),
    );
  });

  it('just after one event is 0 everywhere but offset + 1 in its partition, in either form', () => {
    expect(positionAfter({ partition: 2, offset: 7 }, 4)).toEqual([0, 0, 8, 0]);
    expect(formatPositionAfter({ partition: 2, offset: 7 }, 4)).toBe('0.0.8.0');
    expect(formatPositionAfter({ partition: 0, offset: 0 }, 1)).toBe('1');
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 300 }), fc.nat(), fc.nat({ max: 1e12 }), (partitions, p, offset) => {
        const event = { partition: p % partitions, offset };
        expect(formatPositionAfter(event, partitions)).toBe(formatPosition(positionAfter(event, partitions)));
      }),
    );
  });

  it('reads the older <partition>:<offset> token as the position just after that event', () => {
    expect(parsePosition('3:17', 4)).toEqual([0, 0, 0, 18]);
    expect(parsePosition('0:0', 1)).toEqual([1]);
  });

  it.each([
    ['', 4],
    ['1.2.3', 4],
    ['1.2.3.4.5', 4],
    ['1.2..4', 4],
    ['01.2.3.4', 4],
    ['1.2.3.-4', 4],
    ['1.2.3.4.', 4],
    ['1.5.2.x', 4],
    ['99999999999999999.0.0.0', 4],
    ['4:0', 4],
    ['3:', 4],
    [':17', 4],
    ['-1:2', 4],
    ['1:-2', 4],
    ['1:2:3', 4],
    ['start', 4],
  ])('refuses %j for a log of %i partitions with InvalidQuery', async (text, partitions) => {
    const err = await rejectionOf(() => parsePosition(text, partitions));
    expect(err.code).toBe('InvalidQuery');
    expect(err.message).toMatch(/^position must be /);
  });

  it('names the query parameter and the caller\'s own words in the refusal', async () => {
    const err = await rejectionOf(() => parsePosition('x', 2, 'from', ['start', 'now']));
    expect(err.message).toMatch(/^from must be 'start', 'now', 2 offsets joined by dots .* or <partition>:<offset> of one event; got "x"$/);
  });

  it('is reached when every entry is at or past the other\'s', () => {
    expect(positionReached([3, 5], [3, 5])).toBe(true);
    expect(positionReached([4, 9], [3, 5])).toBe(true);
    expect(positionReached([4, 4], [3, 5])).toBe(false);
    expect(positionReached([], [0, 0])).toBe(true);
    expect(positionReached([], [0, 1])).toBe(false);
  });
});
