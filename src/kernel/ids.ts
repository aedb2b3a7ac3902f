/** Aggregate ids and command ids are chosen by callers, so they are checked at every edge. */
import { errors } from './errors.js';

export const ID_PATTERN = '^[A-Za-z0-9_.:-]{1,128}$';
const ID_RE = new RegExp(ID_PATTERN);

export function isValidId(id: unknown): id is string {
  return typeof id === 'string' && ID_RE.test(id);
}

export function assertValidId(id: unknown): asserts id is string {
  if (!isValidId(id)) throw errors.invalidId(id);
}
