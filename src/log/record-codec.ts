/**
 * How every stored value is framed: `[crc32 (4 bytes, big endian)][msgpack payload]`.
 *
 * Why: LMDB 0.9 keeps no page checksums, so a torn or bit-flipped page would otherwise be decoded and
 * replayed as if it were true (DESIGN invariant 8). The checksum is verified on every read; a mismatch
 * raises `CorruptRecord` naming the database and key, and is never silently skipped.
 *
 * Gotchas: this framing is the on-disk format. Changing it needs a format version bump in `meta`.
 */
import { crc32 } from 'node:zlib';
import { Packr } from 'msgpackr';
import { ErrorCodes, RuntimeError } from '../kernel/errors.js';

// Plain msgpack (no record extension): the stored bytes stay readable by any msgpack decoder.
const packr = new Packr({ useRecords: false, moreTypes: false, mapsAsObjects: true });

export function encodeRecord(value: unknown): Buffer {
  const payload = packr.pack(value);
  const out = Buffer.allocUnsafe(payload.length + 4);
  out.writeUInt32BE(crc32(payload), 0);
  payload.copy(out, 4);
  return out;
}

export function decodeRecord<T>(buf: Uint8Array, where: () => string): T {
  if (buf.length < 4) throw corrupt(where(), 'record shorter than its checksum');
  const b = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const payload = b.subarray(4);
  if (b.readUInt32BE(0) !== crc32(payload)) throw corrupt(where(), 'checksum mismatch');
  try {
    return packr.unpack(payload) as T;
  } catch (err) {
    throw corrupt(where(), `undecodable payload (${(err as Error).message})`);
  }
}

function corrupt(where: string, why: string): RuntimeError {
  return new RuntimeError(ErrorCodes.CorruptRecord, `corrupt record at ${where}: ${why}`, { where });
}
