/**
 * Crypto-shredding: personal data is stored encrypted with a key per data subject, so that deleting
 * one small key makes that subject's data unreadable everywhere it was copied inside the data dir,
 * while the log itself stays append-only (DESIGN invariant 3) and every checksum stays valid.
 *
 * ## What is encrypted where
 * - **Events**: the fields a decider declares personal (`Decider.personalData`, e.g. the account's
 *   `owner`) are sealed one by one before the events reach the log port (personal-data.ts, applied by
 *   versioned-log.ts to every append), so every adapter with a key store (LMDB, memory) and every copy
 *   the LMDB adapter makes of an event (pages) holds only ciphertext. The rest of the event stays plain:
 *   amounts, types, seqs, timestamps, so balances, projections and the time machine work as before.
 * - **Snapshots** of an aggregate type with personal data: the whole state is sealed (a state holds
 *   the decrypted fields, and its shape is the decider's business, not ours).
 * - **View rows**: a projection that copies personal fields declares them (`Projection.personalData`)
 *   and the view store seals them the same way (projections/personal-rows.ts).
 * - Nothing else in the data dir holds them: command records keep ids and digests, the audit stream
 *   keeps ids only (domain/audit.ts).
 *
 * ## The cipher
 * AES-256-GCM from `node:crypto`: a fresh random 96-bit IV per sealed value, the 128-bit tag checked on
 * every open. The additional authenticated data binds a ciphertext to its place (aggregate type, stream,
 * event type, field; or the snapshot's version), so a sealed value copied into another stream, event
 * type or field fails to open instead of reading as someone else's data. A sealed value is one
 * `Uint8Array`: `[1 (format), iv(12), tag(16), ciphertext]`; the plaintext is the value packed with
 * msgpack. A value that does not open is `CorruptRecord`, never a silent redaction.
 *
 * ## The key store
 * One 256-bit random key per subject (`SubjectKeys` in log/port.ts; the LMDB adapter keeps them in
 * `keys.mdb`, their own environment beside `log.mdb`, readable from every thread). A key is made the
 * first time a subject's data is sealed, pending in that thread, and persisted (all the new keys of a
 * batch in one synced transaction) before the batch that uses it commits (versioned-log.ts `commit`).
 *
 * ## What `forget(subject)` guarantees
 * The key is replaced by a tombstone (one synced transaction), the key store's freed pages are
 * rewritten until the key's bytes are checked gone from `keys.mdb` (`scrubbed`), every thread drops
 * what it cached in plaintext (actor states, the state cache, the feed's buffers), and a
 * `SubjectForgotten` event is appended to the audit stream. From then on every read of the subject's
 * personal fields, in every thread (hydration, history, the time machine, view rebuilds, the feed's
 * catch-up, backups taken afterwards), gives `null`; views redact their rows when the audit event
 * reaches them. The tombstone stays: the subject never gets a key again, and new personal data for it
 * is refused.
 *
 * ## What it cannot guarantee
 * - Copies outside the data dir: HTTP answers already sent, feed messages delivered, logs, exports,
 *   and backups taken before the forget (they hold the key: restore one and the data reads again).
 * - The storage medium: an SSD remaps blocks, so an old copy of a key-store page may survive in a
 *   block the file no longer uses; only full-disk encryption (or destroying the disk) covers that.
 * - Plaintext written before a decider declared the field personal stays in the log file (reads still
 *   redact it once the subject is forgotten).
 * - Cluster mode: the JetStream log keeps no keys (they would have to be replicated with it), so
 *   personal fields are stored as given there and `forget` is refused (README).
 *
 * Gotchas:
 * - Changing the AAD layout or the format byte makes every stored ciphertext unreadable: add a new
 *   format byte and keep opening the old one.
 * - `evolve`, views and clients must accept `null` in a personal field.
 */
import { createCipheriv, createDecipheriv, randomFillSync } from 'node:crypto';
import { Packr } from 'msgpackr';
import { corruptRecord } from '../log/index.js';

const FORMAT = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const HEADER = 1 + IV_BYTES + TAG_BYTES;

// The same options as the log's record codec: plain maps and arrays, nothing this build alone reads.
const packr = new Packr({ useRecords: false, moreTypes: false, mapsAsObjects: true });

/** True for what `seal` made (a byte array with its format byte); what else a field holds is plaintext. */
export function isSealed(value: unknown): value is Uint8Array {
  return value instanceof Uint8Array && value.length >= HEADER && value[0] === FORMAT;
}

/**
 * IVs come from a pool of random bytes filled 256 IVs at a time: `randomBytes(12)` per value was a call
 * into OpenSSL's generator each time, 21 % of a worker's CPU in the throughput probe (bench/README.md,
 * "Sealed view rows"). Still a fresh random IV per value; each IV's bytes are used once.
 */
const IV_POOL = Buffer.alloc(IV_BYTES * 256);
let ivAt = IV_POOL.length;

function nextIv(): Buffer {
  if (ivAt === IV_POOL.length) {
    randomFillSync(IV_POOL);
    ivAt = 0;
  }
  const iv = IV_POOL.subarray(ivAt, ivAt + IV_BYTES);
  ivAt += IV_BYTES;
  return iv;
}

/** `value` encrypted with `key` (32 bytes), bound to `aad` (where it is stored). */
export function seal(key: Uint8Array, aad: string, value: unknown): Uint8Array {
  const iv = nextIv();
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  const body = Buffer.concat([cipher.update(packr.pack(value)), cipher.final()]);
  const out = new Uint8Array(HEADER + body.length);
  out[0] = FORMAT;
  out.set(iv, 1);
  out.set(cipher.getAuthTag(), 1 + IV_BYTES);
  out.set(body, HEADER);
  return out;
}

/** Where a sealed value is stored, for the error when it does not open: a database, a key, what in it. */
export interface SealedAt {
  db: string;
  key: unknown;
  what: string;
}

/**
 * The value `seal` sealed with `key` and `aad`. `CorruptRecord` at `where` when it does not open:
 * another key, another place (aad), or damaged bytes.
 */
export function open(key: Uint8Array, aad: string, sealed: Uint8Array, where: SealedAt): unknown {
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(1, 1 + IV_BYTES));
    decipher.setAAD(Buffer.from(aad, 'utf8'));
    decipher.setAuthTag(sealed.subarray(1 + IV_BYTES, HEADER));
    return packr.unpack(Buffer.concat([decipher.update(sealed.subarray(HEADER)), decipher.final()]));
  } catch {
    throw corruptRecord(where.db, where.key, `the sealed personal data ${where.what} does not open with its subject's key (damaged, or moved from another place)`);
  }
}
