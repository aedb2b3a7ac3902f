/**
 * LMDB's own damage reports, as our errors. LMDB 0.9 notices some damage itself while it walks the
 * B-tree (a page of the wrong type, a page number past the end, a transaction that cannot go on);
 * lmdb-js throws those as plain `Error`s with the LMDB return code in `code`. Left alone they would reach
 * a client as `500 Internal`; DESIGN invariant 8 says damage is reported as such, naming where.
 *
 * Gotchas: the codes are LMDB's (lmdb.h); lmdb-js puts the number in `code` and the text
 * ("MDB_CORRUPTED: ...") in `message`. Both are checked, as either may change between versions.
 */
import { ErrorCodes, RuntimeError } from '../../kernel/index.js';

/** lmdb.h return codes that mean the file is damaged (or an earlier error left the environment unusable). */
const DAMAGE_CODES = new Map<number, string>([
  [-30797, 'MDB_PAGE_NOTFOUND'],
  [-30796, 'MDB_CORRUPTED'],
  [-30795, 'MDB_PANIC'],
  [-30793, 'MDB_INVALID'],
  [-30782, 'MDB_BAD_TXN'],
]);
const DAMAGE_TEXT = /\b(MDB_PAGE_NOTFOUND|MDB_CORRUPTED|MDB_PANIC|MDB_INVALID|MDB_BAD_TXN)\b/;

/** The LMDB damage code an error carries, if any. */
export function lmdbDamage(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'number' && DAMAGE_CODES.has(code)) return DAMAGE_CODES.get(code);
  const message = (err as { message?: unknown }).message;
  return typeof message === 'string' ? DAMAGE_TEXT.exec(message)?.[1] : undefined;
}

/**
 * `err` as a `CorruptLog` when LMDB reported damage while reading `what` (e.g. "stream account/a1",
 * "partition 3"); any other error is returned as it is.
 */
export function asLogError(err: unknown, what: string, partition?: number): unknown {
  const damage = lmdbDamage(err);
  if (!damage) return err;
  return new RuntimeError(
    ErrorCodes.CorruptLog,
    `the log file is damaged (LMDB ${damage}) while reading ${what}; run \`eventide verify\`, then restore a backup or \`eventide salvage\``,
    partition === undefined ? { lmdb: damage } : { lmdb: damage, partition },
  );
}
