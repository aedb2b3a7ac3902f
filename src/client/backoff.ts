/**
 * How long the feed client waits before its next connection attempt: exponential from
 * `initialDelayMs`, capped at `maxDelayMs`, with "equal jitter" (half the step fixed, half random) so
 * that many clients dropped by one server restart do not all come back in the same millisecond.
 */
import { EventideClientError } from './errors.js';

export interface ReconnectOptions {
  /** The first wait, in ms (default 250). */
  initialDelayMs?: number;
  /** The longest wait, in ms (default 30 000). */
  maxDelayMs?: number;
  /** Failed attempts in a row before the feed gives up with an error (default: never). */
  maxAttempts?: number;
}

export type ResolvedReconnect = Required<ReconnectOptions>;

export const RECONNECT_DEFAULTS: ResolvedReconnect = { initialDelayMs: 250, maxDelayMs: 30_000, maxAttempts: Number.POSITIVE_INFINITY };

export function resolveReconnect(o: ReconnectOptions = {}): ResolvedReconnect {
  const r = { ...RECONNECT_DEFAULTS, ...o };
  for (const [name, v] of Object.entries(r)) {
    if (typeof v !== 'number' || Number.isNaN(v) || v < 0) {
      throw new EventideClientError({ code: 'InvalidOptions', status: 0, message: `reconnect.${name} must be a number >= 0, got ${String(v)}` });
    }
  }
  return r;
}

/** The wait before attempt `attempt` (0 for the first reconnection after a healthy connection). */
export function backoffDelay(attempt: number, o: ResolvedReconnect, random: () => number = Math.random): number {
  const step = Math.min(o.maxDelayMs, o.initialDelayMs * 2 ** Math.min(attempt, 30));
  return Math.round(step / 2 + (random() * step) / 2);
}
