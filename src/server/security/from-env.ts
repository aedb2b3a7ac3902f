/**
 * `npm start`'s security settings from the environment, and the protected-mode rule for the bind
 * address: with no token configured the server listens on loopback only, unless told explicitly.
 * (Redis's protected mode, for the same reason: a server that answers everyone with no password on a
 * public address is the most common way such servers get taken.)
 */
import { ErrorCodes, RuntimeError } from '../../kernel/index.js';
import { boolEnv, intEnv, type Env } from '../env.js';
import type { SecurityOptions } from './index.js';
import { parseTokensEnv, readTokensFile, type TokenConfig } from './tokens.js';

/** Reads TOKENS_FILE, EVENTIDE_TOKENS, ALLOW_UNAUTHENTICATED and the limits (see docs/http-api.md, "Security"). */
export function securityFromEnv(env: Env): SecurityOptions {
  const tokens: TokenConfig[] = [];
  if (env.TOKENS_FILE) tokens.push(...readTokensFile(env.TOKENS_FILE));
  if (env.EVENTIDE_TOKENS) tokens.push(...parseTokensEnv(env.EVENTIDE_TOKENS));
  const perSecond = intEnv(env, 'RATE_LIMIT', 1000, 0, 1_000_000);
  const o: SecurityOptions = {
    tokens,
    allowUnauthenticated: boolEnv(env, 'ALLOW_UNAUTHENTICATED'),
    rateLimit: perSecond === 0 ? false : { perSecond, burst: intEnv(env, 'RATE_LIMIT_BURST', perSecond * 2, 1, 10_000_000) },
    maxConnections: intEnv(env, 'MAX_CONNECTIONS', 10_000, 1, 1_000_000),
    maxConnectionsPerAddress: intEnv(env, 'MAX_CONNECTIONS_PER_ADDRESS', 256, 1, 1_000_000),
    maxFeedPerAddress: intEnv(env, 'MAX_FEED_PER_ADDRESS', 64, 1, 1_000_000),
    headersTimeoutMs: intEnv(env, 'HEADERS_TIMEOUT_MS', 20_000, 1000, 600_000),
    minBodyBytesPerSecond: intEnv(env, 'MIN_BODY_RATE', 1024, 1, 1_000_000_000),
    bodyRateWindowMs: intEnv(env, 'BODY_RATE_WINDOW_MS', 30_000, 100, 3_600_000),
  };
  return o;
}

/** `localhost`, `127.x.x.x` and `::1` only reach this machine. */
export function isLoopbackHost(host: string): boolean {
  const h = host.trim().toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** Throws a one-line message when `host` is not loopback, no token is configured, and nobody said it is fine. */
export function assertSafeBind(host: string, o: SecurityOptions): void {
  if (isLoopbackHost(host) || (o.tokens?.length ?? 0) > 0 || o.allowUnauthenticated === true) return;
  throw new RuntimeError(
    ErrorCodes.InvalidOptions,
    `refusing to listen on ${host} without authentication: configure tokens (TOKENS_FILE or EVENTIDE_TOKENS), listen on 127.0.0.1, or set ALLOW_UNAUTHENTICATED=1 to serve everyone who can reach ${host}`,
  );
}
