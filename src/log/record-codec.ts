/**
 * How every stored value is framed: `[crc32 (4 bytes, big endian)][msgpack payload]`, where the CRC is
 * taken over the record's *address* (database name and key) followed by the payload.
 *
 * Why: LMDB 0.9 keeps no page checksums, so a torn or bit-flipped page would otherwise be decoded and
 * replayed as if it were true (DESIGN invariant 8). The checksum is verified on every read; a mismatch
 * raises `CorruptRecord` naming the database and key, and is never silently skipped. Binding the CRC to
 * the address (format 3) catches what a value-only checksum cannot: a flipped byte in a *key* (the record
 * now sits at another seq, stream or offset) and a value copied or moved to another key or database.
 *
 * Gotchas: this framing is the on-disk format. Changing it (or how `addressSeed` reads a key) needs a
 * format version bump in `meta` (see LOG_FORMAT_VERSION).
 */
import { crc32 as nativeCrc32 } from 'node:zlib';
import { Packr } from 'msgpackr';
import { ErrorCodes, RuntimeError } from '../kernel/index.js';

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
 * Slicing-by-8: table k (at k * 256) gives the CRC of a byte followed by k zero bytes, so eight bytes
 * take one step of eight lookups instead of eight dependent ones.
 */
const SLICES = new Int32Array(8 * 256);
SLICES.set(TABLE);
for (let k = 1; k < 8; k++) {
  for (let n = 0; n < 256; n++) {
    const prev = SLICES[(k - 1) * 256 + n]!;
    SLICES[k * 256 + n] = (prev >>> 8) ^ TABLE[prev & 0xff]!;
  }
}

/** A key as the log stores it: strings and numbers (lmdb-js ordered-binary). */
export type RecordKey = readonly (string | number)[];

/**
 * CRC-32 of `buf[start..end)`, equal to zlib's (continuing from `seed`, like `zlib.crc32(buf, seed)`). Why not only `zlib.crc32`: most records are tens of
 * bytes, where the native call plus the view it needs cost more than the table loop (hydration profile:
 * `subarray` alone was the largest item). Long records still go native; `bench/tools/crc-probe.ts`
 * measures both by size (slicing-by-8: 75 ns for 60 bytes, 124 for 113, native 144-196).
 */
export function crc32Of(buf: Uint8Array, start: number, end: number, seed = 0): number {
  if (end - start > 256) return nativeCrc32(start === 0 && end === buf.length ? buf : buf.subarray(start, end), seed);
  let c = ~seed;
  let i = start;
  for (const last8 = end - 8; i <= last8; i += 8) {
    c ^= buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16) | (buf[i + 3]! << 24);
    c =
      SLICES[1792 + (c & 0xff)]! ^
      SLICES[1536 + ((c >>> 8) & 0xff)]! ^
      SLICES[1280 + ((c >>> 16) & 0xff)]! ^
      SLICES[1024 + (c >>> 24)]! ^
      SLICES[768 + buf[i + 4]!]! ^
      SLICES[512 + buf[i + 5]!]! ^
      SLICES[256 + buf[i + 6]!]! ^
      SLICES[buf[i + 7]!]!;
  }
  for (; i < end; i++) c = TABLE[(c ^ buf[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}

/**
 * CRC-32 state after the record's address: the database name, then each key part, each part tagged
 * with its kind and ended by a separator, so `["a1", 2]` and `["a", 12]` differ. Characters are fed as
 * 16-bit code units (ids are ASCII, type names need not be). Numbers are fed as their decimal text.
 */
export function addressSeed(db: string, key: RecordKey): number {
  let c = feed(-1, db);
  for (let k = 0; k < key.length; k++) {
    const part = key[k]!;
    if (typeof part === 'number') {
      c = TABLE[(c ^ 0x02) & 0xff]! ^ (c >>> 8);
      c = feed(c, String(part));
    } else {
      c = TABLE[(c ^ 0x01) & 0xff]! ^ (c >>> 8);
      c = feed(c, part);
    }
  }
  return (c ^ -1) >>> 0;
}

function feed(c: number, s: string): number {
  for (let i = 0; i < s.length; i++) {
    const u = s.charCodeAt(i);
    c = TABLE[(c ^ u) & 0xff]! ^ (c >>> 8);
    c = TABLE[(c ^ (u >>> 8)) & 0xff]! ^ (c >>> 8);
  }
  // Separator: a part cannot run into the next one.
  return TABLE[(c ^ 0xff) & 0xff]! ^ (c >>> 8);
}

/** Frames `value` for storage at `db` / `key` (the checksum covers the address too: see the header). */
export function encodeRecord(value: unknown, db: string, key: RecordKey): Buffer {
  const payload = packr.pack(value);
  const out = Buffer.allocUnsafe(payload.length + 4);
  out.set(payload, 4);
  return frameRecord(out, db, key);
}

/**
 * Checks the record read at `db` / `key` without decoding it; its payload is `buf` from byte 4 on. For
 * copying stored bytes into a derived record (a page) without a decode and an encode. Damage raises
 * `CorruptRecord` exactly as `decodeRecord` does, so nothing damaged is ever copied under a fresh checksum.
 */
export function checkRecord(buf: Uint8Array, db: string, key: RecordKey): void {
  if (buf.length < 4) throw corruptRecord(db, key, 'record shorter than its checksum');
  const stored = ((buf[0]! << 24) | (buf[1]! << 16) | (buf[2]! << 8) | buf[3]!) >>> 0;
  if (stored !== crc32Of(buf, 4, buf.length, addressSeed(db, key))) throw corruptRecord(db, key, 'checksum mismatch (damaged value or key, or a record moved)');
}

/** Frames a payload that is msgpack already (see `encodeRecord`); `out` holds it from byte 4 on. */
export function frameRecord(out: Buffer, db: string, key: RecordKey): Buffer {
  const crc = crc32Of(out, 4, out.length, addressSeed(db, key));
  out[0] = crc >>> 24;
  out[1] = (crc >>> 16) & 0xff;
  out[2] = (crc >>> 8) & 0xff;
  out[3] = crc & 0xff;
  return out;
}

/**
 * Decodes the record read at `db` / `key`. A damaged value, a damaged key, or a record that belongs to
 * another address all fail the checksum and raise `CorruptRecord` naming the address.
 */
export function decodeRecord<T>(buf: Uint8Array, db: string, key: RecordKey): T {
  checkRecord(buf, db, key);
  try {
    return packr.unpack(buf, PAYLOAD) as T;
  } catch (err) {
    throw corruptRecord(db, key, `undecodable payload (${(err as Error).message})`);
  }
}

/** The one constructor of `CorruptRecord` for a record at an address (`partition` when known). */
export function corruptRecord(db: string, key: unknown, why: string, partition?: number): RuntimeError {
  const where = `${db} ${JSON.stringify(key)}`;
  return new RuntimeError(ErrorCodes.CorruptRecord, `corrupt record at ${where}: ${why}`, partition === undefined ? { where } : { where, partition });
}

