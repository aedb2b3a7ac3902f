/**
 * How every stored value is framed: `[crc32 (4 bytes, big endian)][msgpack payload]`.
 *
 * Why: LMDB 0.9 keeps no page checksums, so a torn or bit-flipped page would otherwise be decoded and
 * replayed as if it were true (DESIGN invariant 8). The checksum is verified on every read; a mismatch
 * raises `CorruptRecord` naming the database and key, and is never silently skipped.
 *
 * Gotchas: this framing is the on-disk format. Changing it needs a format version bump in `meta`.
 */
import { crc32 as nativeCrc32 } from 'node:zlib';
import { Packr } from 'msgpackr';
import { ErrorCodes, RuntimeError } from '../kernel/errors.js';

// Plain msgpack (no record extension): the stored bytes stay readable by any msgpack decoder.
const packr = new Packr({ useRecords: false, moreTypes: false, mapsAsObjects: true });
const PAYLOAD = { start: 4 };

/** CRC-32 (IEEE, the zlib one) lookup table. */
const TABLE = new Int32Array(256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  TABLE[n] = c;
}

/**
 * CRC-32 of `buf[start..end)`, equal to zlib's. Why not only `zlib.crc32`: most records are tens of
 * bytes, where the native call plus the view it needs cost more than the table loop (hydration profile:
 * `subarray` alone was the largest item). Long records still go native.
 */
export function crc32Of(buf: Uint8Array, start: number, end: number): number {
  if (end - start > 256) return nativeCrc32(start === 0 && end === buf.length ? buf : buf.subarray(start, end));
  let c = -1;
  for (let i = start; i < end; i++) c = TABLE[(c ^ buf[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}

export function encodeRecord(value: unknown): Buffer {
  const payload = packr.pack(value);
  const out = Buffer.allocUnsafe(payload.length + 4);
  out.set(payload, 4);
  const crc = crc32Of(out, 4, out.length);
  out[0] = crc >>> 24;
  out[1] = (crc >>> 16) & 0xff;
  out[2] = (crc >>> 8) & 0xff;
  out[3] = crc & 0xff;
  return out;
}

/** Decodes a framed record; `db` and `key` name it in the error when it is damaged. */
export function decodeRecord<T>(buf: Uint8Array, db: string, key: unknown): T {
  if (buf.length < 4) throw corrupt(db, key, 'record shorter than its checksum');
  const stored = ((buf[0]! << 24) | (buf[1]! << 16) | (buf[2]! << 8) | buf[3]!) >>> 0;
  if (stored !== crc32Of(buf, 4, buf.length)) throw corrupt(db, key, 'checksum mismatch');
  try {
    return packr.unpack(buf, PAYLOAD) as T;
  } catch (err) {
    throw corrupt(db, key, `undecodable payload (${(err as Error).message})`);
  }
}

function corrupt(db: string, key: unknown, why: string): RuntimeError {
  const where = `${db} ${JSON.stringify(key)}`;
  return new RuntimeError(ErrorCodes.CorruptRecord, `corrupt record at ${where}: ${why}`, { where });
}
