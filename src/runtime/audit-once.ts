/**
 * Lifecycle operations record themselves in the audit stream under a command id derived from the
 * operation (retention-settings.ts, stream-deletion-api.ts), so a retry records once. The record's data
 * also names who asked: a retry by someone else (another token, `cli`) finds the id taken with other
 * data, which the log answers `IdempotencyKeyReused`. For an audit record that means "recorded
 * already", which is all the retry needs to know.
 */
import { ErrorCodes, RuntimeError } from '../kernel/index.js';

/** Awaits an audit append; an id already used (by the same operation) counts as recorded. */
export async function auditOnce(record: Promise<unknown>): Promise<void> {
  try {
    await record;
  } catch (err) {
    if (!RuntimeError.is(err, ErrorCodes.IdempotencyKeyReused)) throw err;
  }
}
