/**
 * What every `eventide` command shares: exit codes, argument parsing with usage errors, the data dir,
 * and output as text or `--json`.
 */
import { resolve } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ErrorCodes, RuntimeError } from '../../src/kernel/index.js';

export const EXIT = { ok: 0, damaged: 1, notFound: 1, usage: 2, locked: 3, other: 4 } as const;

export const EXIT_HELP = `Exit codes: 0 ok; 1 a check failed (verify found damage, salvage lost events, reconcile found drift,
inspect found no such stream);
2 usage or no log in the data dir; 3 the data dir is in use by another process (DataDirLocked);
4 any other error (its code is printed).`;

/** A mistake in the command line: exit 2 with the message and a pointer to --help. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

const common = {
  'data-dir': { type: 'string' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const satisfies ParseArgsConfig['options'];

/** `parseArgs` with the common options (--data-dir, --json, --help); unknown options are usage errors. */
export function parse<O extends ParseArgsConfig['options']>(args: string[], options: O): ReturnType<typeof parseArgs<{ args: string[]; options: typeof common & O; allowPositionals: true; strict: true }>> {
  try {
    return parseArgs({ args, options: { ...common, ...options }, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** --data-dir, else $DATA_DIR (an empty one counts as unset), else ./data. */
export const dataDirOf = (flag: string | undefined): string => resolve(flag ?? (process.env['DATA_DIR'] || './data'));

/** Prints `result` as JSON with --json, else the text lines. */
export function out(json: boolean, result: unknown, text: () => string[]): void {
  process.stdout.write(json ? JSON.stringify(result, null, 2) + '\n' : text().join('\n') + '\n');
}

export function exitCodeOf(err: unknown): number {
  if (err instanceof UsageError) return EXIT.usage;
  if (RuntimeError.is(err, ErrorCodes.DataDirLocked)) return EXIT.locked;
  if (RuntimeError.is(err, ErrorCodes.InvalidOptions) && err.details['reason'] === 'no-log') return EXIT.usage;
  return EXIT.other;
}

/** The failure of a command: `<Code>: message` on stderr, and with --json `{ error, message, details }` on stdout. */
export function reportFailure(err: unknown, json: boolean, helpHint: string): number {
  const code = err instanceof UsageError ? 'Usage' : RuntimeError.is(err) ? err.code : ErrorCodes.Internal;
  const message = (err as Error)?.message ?? String(err);
  process.stderr.write(`${code}: ${message}${err instanceof UsageError ? `\n(see ${helpHint} --help)` : ''}\n`);
  if (json) process.stdout.write(JSON.stringify({ error: code, message, ...(RuntimeError.is(err) && Object.keys(err.details).length ? { details: err.details } : {}) }) + '\n');
  return exitCodeOf(err);
}
