/**
 * `registerSecurity(app, options)`: who may do what, and how much of the server one client may take.
 * One call from `buildServer`, before any route, so its `onRequest` hook runs first on every route
 * (plugins included) and on the feed's WebSocket handshake.
 *
 * Per request, in this order:
 * 1. a body is watched for its minimum rate (`body-rate.ts`);
 * 2. the client is identified (token name, else address) and charged one request (`rate-limiter.ts`);
 *    a wrong token is charged to the address, so guessing tokens is rate limited too;
 * 3. without tokens, only loopback clients are served unless `allowUnauthenticated` (protected mode);
 * 4. with tokens, the route's scope (`scopes.ts`) is checked: 401 without a valid token, 403 without the scope;
 * 5. a feed handshake takes one of its address's feed slots (`connection-limits.ts`).
 * Connections are bounded on the server itself: a total, a cap per address, `headersTimeout`, and no
 * fixed `requestTimeout` (the body rate replaces it).
 *
 * Gotchas:
 * - Never log a token: only the principal's name is kept (`principalOf`).
 * - The hook is callback-style on purpose (it runs on every request; an async hook costs a promise).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ErrorCodes, RuntimeError } from '../../kernel/index.js';
import { BodyRateGuard } from './body-rate.js';
import { AddressCounter, CONNECTION_RETRY_AFTER_S, addressOf, limitConnections } from './connection-limits.js';
import { bearerToken } from './feed-protocol.js';
import { RateLimiter } from './rate-limiter.js';
import { formatScope, grants, requiredAccess, type Access } from './scopes.js';
import { TokenRegistry, type Principal, type TokenConfig } from './tokens.js';

export { FEED_AUTH_PROTOCOL, selectFeedProtocol } from './feed-protocol.js';
export { securityFromEnv, assertSafeBind, isLoopbackHost } from './from-env.js';
export { formatScope, requiredAccess } from './scopes.js';
export type { Principal, TokenConfig } from './tokens.js';

export interface RateLimitSettings {
  /** Sustained requests per second per client. */
  perSecond: number;
  /** Requests a client may send at once. */
  burst: number;
  /** Clients remembered at most (least recently seen forgotten first). */
  maxClients?: number;
  /** Do not limit unauthenticated clients on a loopback address (default true; token clients are always limited). */
  exemptLoopback?: boolean;
}

export interface SecurityOptions {
  /** Bearer tokens. None: no authentication, and only loopback clients are served (see `allowUnauthenticated`). */
  tokens?: readonly TokenConfig[];
  /** Without tokens, serve clients on other addresses too (default false: they get 403). */
  allowUnauthenticated?: boolean;
  /** Per-client request rate; `false` turns it off. Default 1 000/s, burst 2 000. */
  rateLimit?: RateLimitSettings | false;
  /** Open connections in total (default 10 000; keep it below `ulimit -n`). */
  maxConnections?: number;
  /** Open connections from one address (default 256). */
  maxConnectionsPerAddress?: number;
  /** Open feed WebSockets from one address (default 64). */
  maxFeedPerAddress?: number;
  /** Time to receive a request's headers (default 20 000 ms). */
  headersTimeoutMs?: number;
  /** A request body slower than this, averaged over `bodyRateWindowMs`, is cut with 408 (default 1 024 bytes/s). */
  minBodyBytesPerSecond?: number;
  /** The window the body rate is averaged over (default 30 000 ms). */
  bodyRateWindowMs?: number;
}

export const SECURITY_DEFAULTS = {
  rateLimit: { perSecond: 1000, burst: 2000, maxClients: 10_000, exemptLoopback: true },
  maxConnections: 10_000,
  maxConnectionsPerAddress: 256,
  maxFeedPerAddress: 64,
  headersTimeoutMs: 20_000,
  minBodyBytesPerSecond: 1024,
  bodyRateWindowMs: 30_000,
} as const;

const principals = new WeakMap<FastifyRequest, Principal>();

/** The token the request was authenticated with (its name and scopes), if any. */
export function principalOf(request: FastifyRequest): Principal | undefined {
  return principals.get(request);
}

export function isLoopbackAddress(address: string): boolean {
  return address.startsWith('127.') || address === '::1' || address.startsWith('::ffff:127.');
}

export function registerSecurity(app: FastifyInstance, options: SecurityOptions = {}): void {
  const d = SECURITY_DEFAULTS;
  const registry = new TokenRegistry(options.tokens ?? []);
  const allowUnauthenticated = options.allowUnauthenticated ?? false;
  const rate = options.rateLimit === false ? undefined : { ...d.rateLimit, ...options.rateLimit };
  const limiter = rate ? new RateLimiter(rate) : undefined;
  const feedPerAddress = new AddressCounter(options.maxFeedPerAddress ?? d.maxFeedPerAddress);
  const bodyGuard = new BodyRateGuard({ minBytesPerSecond: options.minBodyBytesPerSecond ?? d.minBodyBytesPerSecond, windowMs: options.bodyRateWindowMs ?? d.bodyRateWindowMs });

  const server = app.server;
  const detach = limitConnections(server, {
    maxConnections: options.maxConnections ?? d.maxConnections,
    maxConnectionsPerAddress: options.maxConnectionsPerAddress ?? d.maxConnectionsPerAddress,
    maxFeedPerAddress: options.maxFeedPerAddress ?? d.maxFeedPerAddress,
  });
  server.requestTimeout = 0;
  server.headersTimeout = options.headersTimeoutMs ?? d.headersTimeoutMs;
  app.addHook('onClose', async () => {
    detach();
    bodyGuard.close();
  });

  app.addHook('onRequest', (request, reply, done) => {
    bodyGuard.watch(request.raw, reply.raw);
    const address = addressOf(request.raw.socket);
    const token = bearerToken(request.headers);
    const principal = token !== undefined && token !== '' && registry.enabled ? registry.verify(token) : undefined;

    if (limiter && !(rate!.exemptLoopback && !principal && isLoopbackAddress(address))) {
      const r = limiter.take(principal ? `token:${principal.name}` : `ip:${address}`);
      if (!r.ok) {
        const retryAfter = Math.max(1, Math.ceil(r.retryAfterMs / 1000));
        return done(new RuntimeError(ErrorCodes.RateLimited, `too many requests: at most ${rate!.perSecond}/s (bursts of ${rate!.burst}) per client`, { retryAfter }));
      }
    }

    const refusal = registry.enabled
      ? authorize(requiredAccess({ method: request.method, route: request.routeOptions.url, params: request.params, query: request.query }), token, principal)
      : allowUnauthenticated || isLoopbackAddress(address)
        ? undefined
        : new RuntimeError(ErrorCodes.Forbidden, 'protected mode: no tokens are configured, so only loopback clients are served; configure tokens (TOKENS_FILE or EVENTIDE_TOKENS) or set ALLOW_UNAUTHENTICATED=1');
    if (refusal) return done(refusal);
    if (principal) principals.set(request, principal);

    if (request.routeOptions.url === '/feed' && request.headers.upgrade?.toLowerCase() === 'websocket' && !feedPerAddress.admit(request.raw.socket)) {
      return done(new RuntimeError(ErrorCodes.RateLimited, `too many feed connections from your address (at most ${feedPerAddress.cap})`, { retryAfter: CONNECTION_RETRY_AFTER_S }));
    }
    done();
  });
}

/** Why a request with tokens configured may not pass (401 or 403), or undefined when it may. */
function authorize(access: Access, token: string | undefined, principal: Principal | undefined): RuntimeError | undefined {
  if (access === 'public') return undefined;
  if (token === undefined) return new RuntimeError(ErrorCodes.Unauthorized, 'this server needs a bearer token: send Authorization: Bearer <token>', { reason: 'missing_token' });
  if (!principal) return new RuntimeError(ErrorCodes.Unauthorized, 'the bearer token is not valid', { reason: 'invalid_token' });
  if (grants(principal.scopes, access)) return undefined;
  const required = formatScope(access);
  return new RuntimeError(ErrorCodes.Forbidden, `token "${principal.name}" lacks the scope ${required}`, { required });
}
