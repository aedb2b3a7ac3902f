/**
 * The digest stored beside a command id (issue: a command id reused for a different command must be
 * refused, as idempotency-key APIs do, not answered with the first command's result).
 *
 * Why canonical: a client that retries may serialise the same object with its keys in another order;
 * that is the same command. So object keys are sorted at every level before hashing. Arrays keep their
 * order (it is meaningful). The digest covers the command's type and data, nothing else: the retry of a
 * command is the same request.
 *
 * Gotchas: this is stored on disk (the `commands` records); changing how it is computed makes every
 * retry of an older command look like a reuse. Version it (the prefix) if it ever changes.
 */
import { createHash } from 'node:crypto';

const VERSION = 'v1:';

export function commandDigest(command: { type: string; data: unknown }): string {
  const hash = createHash('sha256');
  hash.update(command.type);
  hash.update('\u0000');
  hash.update(canonicalJson(command.data));
  return VERSION + hash.digest('base64url').slice(0, 22);
}

function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return '[' + value.map(canonicalJson).join(',') + ']';
  const keys = Object.keys(value).sort();
  return '{' + keys.map((k) => JSON.stringify(k) + ':' + canonicalJson((value as Record<string, unknown>)[k])).join(',') + '}';
}
