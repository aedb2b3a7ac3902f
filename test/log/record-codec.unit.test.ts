/**
 * The stored-record framing: `[crc32 big endian][plain msgpack]`. The checksum must stay zlib's CRC-32
 * (the on-disk format), whichever implementation computes it, and any damaged byte must be refused.
 */
import { crc32 } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { crc32Of, decodeRecord, encodeRecord } from '../../src/log/record-codec.js';

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

  it('round-trips any msgpack-able value and stores zlib crc32 of the payload up front', () => {
    fc.assert(
      // `__proto__` keys are left out: msgpackr drops them on decode (no prototype pollution from stored
      // bytes), and the edge refuses them in commands anyway.
      fc.property(fc.jsonValue().filter((v) => !JSON.stringify(v).includes('"__proto__"')), (value) => {
        const rec = encodeRecord(value);
        expect(rec.readUInt32BE(0)).toBe(crc32(rec.subarray(4)));
        expect(decodeRecord(rec, 'events', ['k'])).toEqual(JSON.parse(JSON.stringify(value)));
      }),
      { numRuns: 300 },
    );
  });

  it('refuses a record with any single flipped bit, naming the database and key', () => {
    const rec = encodeRecord(['Deposited', { amount: 12 }, 1_700_000_000_000, 3, 42, null]);
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
});
