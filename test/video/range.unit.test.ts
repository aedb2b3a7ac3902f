import { describe, expect, it } from 'vitest';
import { parseRange } from '../../src/server/file-reply.js';

describe('Range headers on renditions (one range, RFC 9110)', () => {
  it.each([
    ['bytes=0-99', { start: 0, end: 99 }],
    ['bytes=100-', { start: 100, end: 999 }],
    ['bytes=-100', { start: 900, end: 999 }],
    ['bytes=900-5000', { start: 900, end: 999 }],
    ['bytes=-5000', { start: 0, end: 999 }],
    ['bytes=1000-', 'unsatisfiable'],
    ['bytes=-0', 'unsatisfiable'],
    ['bytes=5-3', null],
    ['bytes=0-1,5-6', null],
    ['items=0-1', null],
    ['bytes=-', null],
    [undefined, null],
  ] as const)('%s on a 1000-byte file -> %j', (header, expected) => {
    expect(parseRange(header, 1000)).toEqual(expected);
  });
});
