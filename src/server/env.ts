/** Reading `npm start`'s environment: one checker for integer variables, so every one fails alike. */
import { ErrorCodes, RuntimeError } from '../kernel/index.js';

export type Env = Record<string, string | undefined>;

const invalidOptions = (message: string): RuntimeError => new RuntimeError(ErrorCodes.InvalidOptions, message);

/** `env[name]` as an integer in [min, max]; `fallback` when unset or empty; throws a one-line message otherwise. */
export function intEnv(env: Env, name: string, fallback: number, min: number, max: number): number;
export function intEnv(env: Env, name: string, fallback: number | undefined, min: number, max: number): number | undefined;
export function intEnv(env: Env, name: string, fallback: number | undefined, min: number, max: number): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < min || n > max) throw invalidOptions(`${name} must be an integer in [${min}, ${max}], got ${JSON.stringify(raw)}`);
  return n;
}

/** A yes/no variable: `1`/`true`/`yes` are yes, unset/`0`/`false`/`no` are no, anything else throws. */
export function boolEnv(env: Env, name: string): boolean {
  const raw = env[name]?.trim().toLowerCase();
  if (raw === undefined || raw === '' || raw === '0' || raw === 'false' || raw === 'no') return false;
  if (raw === '1' || raw === 'true' || raw === 'yes') return true;
  throw invalidOptions(`${name} must be 1 or 0, got ${JSON.stringify(env[name])}`);
}
