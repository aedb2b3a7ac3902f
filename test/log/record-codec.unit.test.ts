/**
 * The stored-record framing: `[crc32 big endian][plain msgpack]`, the CRC taken over the record's
 * address (database, key) and then the payload. The checksum must stay zlib's CRC-32 (the on-disk
 * format), whichever implementation computes it; any damaged byte, and any record read at another
 * address than the one it was written for (a damaged key, a moved record), must be refused.
 */
import { crc32 } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { addressSeed, crc32Of, decodeRecord, encodeRecord } from '../../src/log/lmdb/record-codec.js';

describe('record framing', () => {
  it('computes exactly zlib crc32 over any byte range, short (table) or long (native)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 700 }), fc.nat(), fc.nat(), (bytes, a, b) => {
        const start = bytes.length ? a % (bytes.length + 1) : 0;
        const end = start + (bytes.length - start ? b % (bytes.length - start + 1) : 0);
        expect(crc32Of(bytes, start, end)).toBe(crc32(bytes.subarray(start, end)));
      }),
      { numRuns: 500 },
    );
  });

  it('continues a CRC from a seed exactly as zlib does', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 700 }), fc.integer({ min: 0, max: 0xffffffff }), (bytes, seed) => {
        expect(crc32Of(bytes, 0, bytes.length, seed)).toBe(crc32(bytes, seed));
      }),
      { numRuns: 300 },
    );
  });

  it('round-trips any msgpack-able value and stores zlib crc32 of the payload, seeded by the address, up front', () => {
    fc.assert(
      // `__proto__` keys are left out: msgpackr drops them on decode (no prototype pollution from stored
      // bytes), and the edge refuses them in commands anyway.
      fc.property(fc.jsonValue().filter((v) => !JSON.stringify(v).includes('"__proto__"')), (value) => {
        const rec = encodeRecord(value, 'events', ['k']);
        expect(rec.readUInt32BE(0)).toBe(crc32(rec.subarray(4), addressSeed('events', ['k'])));
        expect(decodeRecord(rec, 'events', ['k'])).toEqual(JSON.parse(JSON.stringify(value)));
      }),
      { numRuns: 300 },
    );
  });

  it('refuses a record with any single flipped bit, naming the database and key', () => {
    const rec = encodeRecord(['Deposited', { amount: 12 }, 1_700_000_000_000, 3, 42, null], 'events', ['account', 'a', 1]);
    for (let i = 0; i < rec.length; i++) {
      for (let bit = 0; bit < 8; bit++) {
        const bad = Buffer.from(rec);
        bad[i] = bad[i]! ^ (1 << bit);
        let code = '';
        let where: unknown;
        try {
          decodeRecord(bad, 'events', ['account', 'a', 1]);
        } catch (err) {
          code = (err as { code: string }).code;
          where = (err as { details: { where: string } }).details.where;
        }
        expect({ i, bit, code, where }).toEqual({ i, bit, code: 'CorruptRecord', where: 'events ["account","a",1]' });
      }
    }
  });

  it('refuses a record read at any other address: another seq, stream, type, key shape or database', () => {
    const key = ['account', 'acc-1', 128] as const;
    const rec = encodeRecord(['Deposited', { amount: 12 }, 1_700_000_000_000, 3, 42, null], 'events', key);
    expect(decodeRecord(rec, 'events', key)).toEqual(['Deposited', { amount: 12 }, 1_700_000_000_000, 3, 42, null]);
    const elsewhere: Array<[string, Array<string | number>]> = [
      ['events', ['account', 'acc-1', 129]],
      ['events', ['account', 'acc-1', 384]],
      ['events', ['account', 'acc-2', 128]],
      ['events', ['account', 'acc-1', '128']],
      ['events', ['accounu', 'acc-1', 128]],
      ['events', ['account', 'acc-1']],
      ['events', ['account', 'acc-11', 28]],
      ['pages', ['account', 'acc-1', 128]],
      ['snapshots', ['account', 'acc-1', 128]],
    ];
    for (const [db, k] of elsewhere) expect(() => decodeRecord(rec, db, k), `${db} ${JSON.stringify(k)}`).toThrow(/corrupt record at .*checksum mismatch/);
  });

  it('gives every key with one flipped bit another address (a damaged key is caught)', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[A-Za-z0-9_.:-]{1,40}$/), fc.integer({ min: 1, max: 2 ** 40 }), fc.nat(), (id, seq, which) => {
        const chars = [...id];
        const i = which % chars.length;
        const flipped = chars.map((c, j) => (j === i ? String.fromCharCode(c.charCodeAt(0) ^ (1 << (which % 7))) : c)).join('');
        expect(addressSeed('events', ['account', flipped, seq])).not.toBe(addressSeed('events', ['account', id, seq]));
        expect(addressSeed('events', ['account', id, seq ^ (1 << (which % 30))])).not.toBe(addressSeed('events', ['account', id, seq]));
      }),
      { numRuns: 500 },
    );
  });
});
