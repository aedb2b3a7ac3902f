/**
 * Scopes and the one table of which route needs which.
 *
 * A scope is `read`, `write` or `admin`, and `read`/`write` may be narrowed to one aggregate type
 * (`write:account`, `read:video`). They nest: `admin` grants everything; `write` grants `read`;
 * `write:T` grants `read:T`. A typed scope never grants a route that spans types (`/views`, `/partitions`,
 * `/metrics`, the feed without `?type=`).
 *
 * The table is keyed by fastify's route pattern, so it holds for every route at once and a route file
 * never has to remember to ask. A route missing from it needs `read` for GET/HEAD and `admin` for
 * anything else: a new mutating route is closed until someone decides otherwise.
 *
 * Gotchas:
 * - The table is matched on `request.routeOptions.url` (the pattern, e.g. `/videos/:id/cancel`): a
 *   plugin registered under a prefix has the prefix in its pattern and falls back to the defaults.
 */

export type ScopeLevel = 'read' | 'write' | 'admin';

export interface Scope {
  level: ScopeLevel;
  /** An aggregate type; absent means every type. */
  type?: string;
}

/** What a route needs: nothing (`public`), or a scope. */
export type Access = 'public' | Scope;

const TYPE = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;

export function parseScope(s: string): Scope | undefined {
  if (s === 'read' || s === 'write' || s === 'admin') return { level: s };
  const m = /^(read|write):(.+)$/.exec(s);
  if (!m || !TYPE.test(m[2]!)) return undefined;
  return { level: m[1] as ScopeLevel, type: m[2]! };
}

export function formatScope(s: Scope): string {
  return s.type === undefined ? s.level : `${s.level}:${s.type}`;
}

const RANK: Record<ScopeLevel, number> = { read: 1, write: 2, admin: 3 };

/** True when one of `held` grants `need` (see the module header for the nesting). */
export function grants(held: readonly Scope[], need: Scope): boolean {
  return held.some((h) => h.level === 'admin' || (RANK[h.level] >= RANK[need.level] && (h.type === undefined || h.type === need.type)));
}

interface RouteRequest {
  method: string;
  /** The matched route pattern; undefined for a request no route matched (404). */
  route: string | undefined;
  params: unknown;
  query: unknown;
}

const AGGREGATE_ROUTE = /^\/aggregates\/([^/]+)\/:id(\/commands|\/events|\/diff)?$/;

// The console's static files (the page asks for a token itself when the API wants one) and liveness.
const PUBLIC = new Set(['GET /', 'GET /dashboard/:file', 'GET /dashboard/vendor/:file', 'GET /health']);

type Rule = (r: RouteRequest) => Scope;
const typeParam = (level: ScopeLevel): Rule => (r) => withType(level, field(r.params, 'type'));
const fixed = (level: ScopeLevel, type?: string): Rule => () => (type === undefined ? { level } : { level, type });

const RULES: Record<string, Rule> = {
  'POST /videos': fixed('write', 'video'),
  'POST /videos/:id/cancel': fixed('write', 'video'),
  'GET /videos': fixed('read', 'video'),
  'GET /videos/:id': fixed('read', 'video'),
  'GET /videos/:id/events': fixed('read', 'video'),
  'GET /videos/:id/renditions/:height': fixed('read', 'video'),
  'GET /videos/:id/thumbnail': fixed('read', 'video'),
  'GET /feed': (r) => withType('read', field(r.query, 'type')),
  'POST /views/:name/rebuild': fixed('admin'),
  'POST /views/:name/reconcile': fixed('admin'),
  // Retention settings say which history others may read: reading them is an operator's business too.
  'GET /admin/retention/:type': fixed('admin'),
  'GET /admin/retention/:type/:id': fixed('admin'),
  'GET /admin/scavenge': fixed('admin'),
  // The audit stream names who removed what: an operator's record, not a reader's.
  'GET /admin/audit': fixed('admin'),
};

/** What `request` needs. HEAD is treated as GET (fastify adds a HEAD route for each GET). */
export function requiredAccess(r: RouteRequest): Access {
  const method = r.method === 'HEAD' ? 'GET' : r.method;
  const key = `${method} ${r.route ?? ''}`;
  if (PUBLIC.has(key)) return 'public';
  const rule = RULES[key];
  if (rule) return rule(r);
  // One route per aggregate type (`/aggregates/account/:id/commands`), plus `:type` for unknown types.
  const aggregate = r.route === undefined ? null : AGGREGATE_ROUTE.exec(r.route);
  if (aggregate && (method === 'GET' || aggregate[2] === '/commands')) {
    const type = aggregate[1] === ':type' ? field(r.params, 'type') : decodeURIComponent(aggregate[1]!);
    return withType(method === 'GET' ? 'read' : 'write', type);
  }
  return method === 'GET' ? { level: 'read' } : { level: 'admin' };
}

function field(o: unknown, name: string): string | undefined {
  if (typeof o !== 'object' || o === null || !Object.hasOwn(o, name)) return undefined;
  const v = (o as Record<string, unknown>)[name];
  return typeof v === 'string' ? v : undefined;
}

function withType(level: ScopeLevel, type: string | undefined): Scope {
  return type !== undefined && TYPE.test(type) ? { level, type } : { level };
}
