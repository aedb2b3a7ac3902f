import { describe, expect, it } from 'vitest';
import { conditionRange, ifRangeMatches, parseRange, strongEtag } from '../../src/server/file-reply.js';

describe('Range headers on files (one range, RFC 9110)', () => {
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

describe('If-Range (RFC 9110 13.1.5)', () => {
  const etag = '"3e8-18d"';
  const lastModified = new Date('2026-12-01T10:00:00Z');
  it.each([
    [undefined, true],
    [etag, true],
    [`W/${etag}`, false],
    ['"other"', false],
    [lastModified.toUTCString(), true],
    ['Tue, 01 Dec 2026 10:00:01 GMT', false],
    ['Tue, 01 Dec 2026 09:59:59 GMT', false],
    ['not a date', false],
  ] as const)('%s -> %s', (header, expected) => {
    expect(ifRangeMatches(header, etag, lastModified)).toBe(expected);
  });
});

describe('what send is given (conditionRange)', () => {
  const stat = { size: 1000, mtime: new Date('2026-12-01T10:00:00.123Z') };
  const given = (headers: Record<string, string>) => {
    const h: Record<string, string | undefined> = { ...headers };
    conditionRange(h, stat);
    return h;
  };

  it('one range, as first-last positions; If-Range always removed', () => {
    expect(given({ range: 'bytes=-5000' })).toEqual({ range: 'bytes=0-999' });
    expect(given({ range: 'bytes=10-', 'if-range': strongEtag(stat) })).toEqual({ range: 'bytes=10-999' });
  });

  it('no Range for one to ignore, or when If-Range names another validator', () => {
    expect(given({ range: 'bytes=5-3' })).toEqual({});
    expect(given({ range: 'bytes=0-9', 'if-range': '"other"' })).toEqual({});
  });

  it('an unsatisfiable range as `bytes=<size>-`, which send answers 416', () => {
    expect(given({ range: 'bytes=2000-' })).toEqual({ range: 'bytes=1000-' });
    expect(given({ range: 'bytes=-0' })).toEqual({ range: 'bytes=1000-' });
  });

  it('the strong ETag is send\'s without its W/: size and mtime in ms, in hex', () => {
    expect(strongEtag(stat)).toBe(`"3e8-${stat.mtime.getTime().toString(16)}"`);
  });

  it('keeps the headers send needs for conditional requests', () => {
    expect(given({ 'if-none-match': '"x"', 'if-modified-since': 'Tue, 01 Dec 2026 10:00:00 GMT' })).toEqual({ 'if-none-match': '"x"', 'if-modified-since': 'Tue, 01 Dec 2026 10:00:00 GMT' });
  });
});
