/**
 * The cipher of crypto-shredding (src/runtime/subject-cipher.ts): AES-256-GCM with a fresh IV per value,
 * the tag checked, and the place a value is stored (the AAD) bound to it: a sealed value opens only with
 * its key and at its place, and any other attempt is `CorruptRecord`, never a wrong plaintext.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { isSealed, open, seal } from '../../src/runtime/subject-cipher.js';

const key = new Uint8Array(randomBytes(32));
const at = { db: 'events', key: ['account', 'acc-1'], what: 'owner' };
const aad = 'eventide/1\u0000event\u0000account\u0000acc-1\u0000AccountOpened\u0000owner';

describe('subject cipher', () => {
  it('opens what it sealed, for every JSON-like value', () => {
    for (const v of ['Zelda Quixote', 0, 12.5, true, { street: 'x', n: [1, 2] }, ['a', null], '']) {
      expect(open(key, aad, seal(key, aad, v), at)).toEqual(v);
    }
  });

  it('never shows the plaintext, and seals the same value differently each time (a random IV per value)', () => {
    const a = seal(key, aad, 'Zelda Quixote');
    const b = seal(key, aad, 'Zelda Quixote');
    expect(Buffer.from(a).includes(Buffer.from('Zelda'))).toBe(false);
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(false);
    // format byte, 12-byte IV, 16-byte tag, then the ciphertext
    expect(a[0]).toBe(1);
    expect(Buffer.from(a.subarray(1, 13)).equals(Buffer.from(b.subarray(1, 13)))).toBe(false);
  });

  it('never gives two values the same IV, across refills of the IV pool', () => {
    const ivs = new Set<string>();
    // 256 IVs per pool fill: 1 000 seals cross three refills.
    for (let i = 0; i < 1_000; i++) ivs.add(Buffer.from(seal(key, aad, i).subarray(1, 13)).toString('hex'));
    expect(ivs.size).toBe(1_000);
  });

  it.each([
    ['another key', () => open(new Uint8Array(randomBytes(32)), aad, seal(key, aad, 'v'), at)],
    ['another place (aad)', () => open(key, aad.replace('acc-1', 'acc-2'), seal(key, aad, 'v'), at)],
    ['a flipped ciphertext byte', () => {
      const s = seal(key, aad, 'value');
      s[s.length - 1]! ^= 1;
      return open(key, aad, s, at);
    }],
    ['a flipped tag byte', () => {
      const s = seal(key, aad, 'value');
      s[20]! ^= 1;
      return open(key, aad, s, at);
    }],
  ])('refuses to open with %s: CorruptRecord naming the place', (_what, attempt) => {
    expect(attempt).toThrow(expect.objectContaining({ code: 'CorruptRecord', message: expect.stringContaining('events ["account","acc-1"]') }));
  });

  it('tells a sealed value from plaintext', () => {
    expect(isSealed(seal(key, aad, 'x'))).toBe(true);
    expect(isSealed('x')).toBe(false);
    expect(isSealed(null)).toBe(false);
    expect(isSealed(new Uint8Array(5))).toBe(false);
  });
});
