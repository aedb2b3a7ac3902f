/**
 * `GET /openapi.json`, the description @fastify/swagger makes from the routes' own schemas, on the server
 * `npm start` builds (buildServer with the video routes and the dashboard):
 * - it is OpenAPI 3 in structure: every operation has responses with descriptions, every path parameter
 *   is declared, every `$ref` resolves, operation ids are unique;
 * - its routes are exactly those of docs/http-api.md's route table, both ways, and exactly the routes
 *   the server has;
 * - every route has a schema worth the name (a summary, a success answer, the error body);
 * - the answers to a set of requests covering every route's main outcomes match the schema the
 *   document gives for their status (the schemas describe what clients really get).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEventide, type Eventide } from '../../src/app/index.js';
import { buildServer } from '../../src/server/index.js';
import { videoRoutes } from '../../src/server/routes/videos.js';
import { createVideoPipeline, type VideoPipeline } from '../../src/video/index.js';
import { makeTempDir, removeDir } from '../support/temp-dirs.js';

type Json = Record<string, unknown>;
interface Operation {
  summary?: string;
  operationId?: string;
  parameters?: Array<{ name: string; in: string; required?: boolean; schema?: Json }>;
  requestBody?: { content?: Record<string, { schema?: Json }> };
  responses?: Record<string, { description?: unknown; content?: Record<string, { schema?: Json }> }>;
  security?: Array<Record<string, unknown>>;
}
interface Doc {
  openapi: string;
  info: { title: string; version: string };
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, Json>; securitySchemes: Record<string, Json> };
}

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'options', 'head', 'trace'];
const docsText = readFileSync(new URL('../../docs/http-api.md', import.meta.url), 'utf8');

let dir: string;
let eventide: Eventide;
let pipeline: VideoPipeline;
let app: FastifyInstance;
let doc: Doc;

beforeAll(async () => {
  dir = await makeTempDir('openapi');
  eventide = await createEventide({ dataDir: join(dir, 'data'), partitions: 4, workers: 1 });
  const { runtime, views } = eventide;
  pipeline = await createVideoPipeline({ runtime, encode: { preset: 'ultrafast' }, retryDelayMs: 0 });
  // As main.ts composes it: the video routes as a plugin, the dashboard on.
  app = await buildServer({ runtime, views, plugins: [videoRoutes({ runtime, pipeline })], defaultMetrics: false, backupDir: join(dir, 'backups') });
  const res = await app.inject({ url: '/openapi.json' });
  expect(res.statusCode).toBe(200);
  expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
  doc = res.json() as Doc;
});

afterAll(async () => {
  await app?.close();
  await pipeline?.close();
  await eventide?.close();
  await removeDir(dir);
});

/** Every operation: `[METHOD, path, operation]`. */
function operations(d: Doc): Array<[string, string, Operation]> {
  return Object.entries(d.paths).flatMap(([path, item]) => Object.entries(item).filter(([m]) => METHODS.includes(m)).map(([m, op]) => [m.toUpperCase(), path, op] as [string, string, Operation]));
}

/** `/aggregates/account/{id}` -> `/aggregates/:type/:id`: the docs write one row for every aggregate type. */
function asDocsRoute(method: string, path: string, aggregateTypes: readonly string[]): string {
  let p = path.replace(/\{([^}]+)\}/g, ':$1');
  for (const type of aggregateTypes) if (p.startsWith(`/aggregates/${type}/`)) p = `/aggregates/:type/${p.slice(`/aggregates/${type}/`.length)}`;
  return `${method} ${p}`;
}

/**
 * The routes docs/http-api.md's "Routes" table lists: in each row's first cell, every backticked
 * `METHOD /path` (a query string dropped), and a backticked bare method after one (`(or \`POST\`)`)
 * names the same path with that method.
 */
export function documentedRoutes(markdown: string): Set<string> {
  const section = markdown.split(/^## /m).find((s) => s.startsWith('Routes\n'));
  if (!section) throw new Error('docs/http-api.md has no "## Routes" section');
  const table = section.split('\n').filter((line) => line.startsWith('|'));
  const routes = new Set<string>();
  for (const row of table.slice(2)) {
    const first = row.replaceAll('\\|', '').split('|')[1] ?? '';
    let last: string | undefined;
    for (const [, token] of first.matchAll(/`([^`]+)`/g)) {
      const route = /^(GET|POST|PUT|PATCH|DELETE) (\/\S*)$/.exec(token!);
      if (route) {
        last = route[2]!.split('?')[0]!;
        routes.add(`${route[1]} ${last}`);
      } else if (/^(GET|POST|PUT|PATCH|DELETE)$/.test(token!) && last !== undefined) {
        routes.add(`${token} ${last}`);
      }
    }
  }
  return routes;
}

/** The routes fastify has, from `printRoutes` (HEAD left out: fastify adds one per GET). */
function serverRoutes(a: FastifyInstance): Set<string> {
  const routes = new Set<string>();
  const stack: Array<{ depth: number; path: string }> = [];
  for (const line of a.printRoutes({ commonPrefix: false }).split('\n')) {
    const m = /^([│ ]*)[├└]── (\S+)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (!m) continue;
    const depth = m[1]!.length / 4;
    while (stack.length > depth) stack.pop();
    const parent = stack[stack.length - 1]?.path ?? '';
    const path = parent === '' ? m[2]! : parent === '/' ? `/${m[2]!.replace(/^\//, '')}` : `${parent}${m[2]!}`;
    stack.push({ depth, path });
    for (const method of (m[3] ?? '').split(', ').filter((x) => x && x !== 'HEAD')) routes.add(`${method} ${path}`);
  }
  return routes;
}

/** What is wrong with `d` as an OpenAPI 3 document (the structure this server's clients rely on). */
function structureProblems(d: Doc): string[] {
  const problems: string[] = [];
  if (!/^3\.[01]\.\d+$/.test(d.openapi)) problems.push(`openapi is ${d.openapi}`);
  if (!d.info?.title || !d.info?.version) problems.push('info needs a title and a version');
  const ids = new Set<string>();
  for (const [method, path, op] of operations(d)) {
    const at = `${method} ${path}`;
    if (!path.startsWith('/')) problems.push(`${at}: a path starts with /`);
    const responses = Object.entries(op.responses ?? {});
    if (responses.length === 0) problems.push(`${at}: no responses`);
    for (const [status, r] of responses) {
      if (!/^(default|[1-5](\d\d|XX))$/.test(status)) problems.push(`${at}: response key ${status}`);
      if (typeof r.description !== 'string' || r.description === '') problems.push(`${at} ${status}: no description`);
      for (const [type, media] of Object.entries(r.content ?? {})) if (typeof media.schema !== 'object') problems.push(`${at} ${status} ${type}: no schema`);
    }
    const inPath = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]!).sort();
    const declared = (op.parameters ?? []).filter((p) => p.in === 'path');
    if (JSON.stringify(declared.map((p) => p.name).sort()) !== JSON.stringify(inPath)) problems.push(`${at}: path parameters ${declared.map((p) => p.name).join(',')} vs the template`);
    for (const p of op.parameters ?? []) {
      if (!['path', 'query', 'header', 'cookie'].includes(p.in)) problems.push(`${at}: parameter ${p.name} in ${p.in}`);
      if (p.in === 'path' && p.required !== true) problems.push(`${at}: path parameter ${p.name} must be required`);
      if (typeof p.schema !== 'object') problems.push(`${at}: parameter ${p.name} has no schema`);
    }
    if (op.requestBody && Object.keys(op.requestBody.content ?? {}).length === 0) problems.push(`${at}: a request body without content`);
    if (op.operationId !== undefined) {
      if (ids.has(op.operationId)) problems.push(`${at}: operationId ${op.operationId} twice`);
      ids.add(op.operationId);
    }
    for (const requirement of op.security ?? []) for (const name of Object.keys(requirement)) if (!d.components.securitySchemes[name]) problems.push(`${at}: no security scheme ${name}`);
  }
  const refs: string[] = [];
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) (k === '$ref' && typeof x === 'string' ? refs.push(x) : walk(x));
  };
  walk(d);
  for (const ref of refs) if (resolvePointer(d, ref) === undefined) problems.push(`$ref ${ref} does not resolve`);
  return problems;
}

function resolvePointer(d: unknown, ref: string): unknown {
  if (!ref.startsWith('#/')) return undefined;
  let at: unknown = d;
  for (const part of ref.slice(2).split('/').map((p) => decodeURIComponent(p).replaceAll('~1', '/').replaceAll('~0', '~'))) {
    if (!at || typeof at !== 'object' || !Object.hasOwn(at, part)) return undefined;
    at = (at as Json)[part];
  }
  return at;
}

describe('GET /openapi.json', () => {
  it('describes this server: OpenAPI 3.1, eventide\'s name and version, the bearer scheme', () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { name: string; version: string };
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.info).toMatchObject({ title: pkg.name, version: pkg.version });
    expect(doc.components.securitySchemes.bearerAuth).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(Object.keys(doc.components.schemas)).toEqual(expect.arrayContaining(['ErrorBody', 'Envelope']));
  });

  it('is OpenAPI 3 in structure: responses everywhere, path parameters declared, every $ref resolves, unique operation ids', () => {
    expect(structureProblems(doc)).toEqual([]);
  });

  it('sends the same bytes every time (built once)', async () => {
    const again = await app.inject({ url: '/openapi.json' });
    expect(again.body).toBe(JSON.stringify(doc));
  });

  it('lists exactly the routes the server has (no route left out of the document)', () => {
    const documented = new Set(operations(doc).map(([m, p]) => `${m} ${p.replace(/\{([^}]+)\}/g, ':$1')}`));
    expect([...serverRoutes(app)].filter((r) => !documented.has(r)), 'routes missing from /openapi.json').toEqual([]);
    expect([...documented].filter((r) => !serverRoutes(app).has(r)), 'operations with no route').toEqual([]);
  });

  it("lists exactly the routes of docs/http-api.md's route table, both ways", () => {
    const fromDocs = documentedRoutes(docsText);
    const fromCode = new Set(operations(doc).map(([m, p]) => asDocsRoute(m, p, eventide.runtime.aggregateTypes)));
    expect(fromDocs.size).toBeGreaterThan(20);
    expect([...fromCode].filter((r) => !fromDocs.has(r)).sort(), "routes the server has that docs/http-api.md's route table does not list").toEqual([]);
    expect([...fromDocs].filter((r) => !fromCode.has(r)).sort(), "routes docs/http-api.md's route table lists that the server does not have").toEqual([]);
  });

  it('gives every route a schema worth the name: a summary, a success answer, the error body, and the scope it needs', () => {
    for (const [method, path, op] of operations(doc)) {
      const at = `${method} ${path}`;
      const statuses = Object.keys(op.responses ?? {});
      expect(op.summary, at).toEqual(expect.any(String));
      // The routes of unknown aggregate types only ever answer 404.
      expect(statuses.some((s) => /^[123]/.test(s)) || path.startsWith('/aggregates/{type}/'), `${at}: a success answer`).toBe(true);
      expect(op.responses?.default?.content?.['application/json']?.schema, `${at}: the error body`).toEqual({ $ref: '#/components/schemas/ErrorBody' });
      const publicRoute = Array.isArray(op.security) && op.security.length === 0;
      expect(publicRoute || typeof (op as Json)['x-required-scope'] === 'string', `${at}: public, or a scope`).toBe(true);
    }
    const publics = operations(doc).filter(([, , op]) => op.security?.length === 0).map(([m, p]) => `${m} ${p}`);
    expect(publics.sort()).toEqual(['GET /', 'GET /dashboard/vendor/{file}', 'GET /dashboard/{file}', 'GET /health']);
  });

  it('documents the command bodies from the deciders, public commands only', () => {
    const body = doc.paths['/aggregates/account/{id}/commands']!.post!.requestBody!.content!['application/json']!.schema as { oneOf: Array<{ properties: { type: { enum: string[] } } }> };
    expect(body.oneOf.map((b) => b.properties.type.enum[0])).toEqual(['Open', 'Deposit', 'Withdraw']);
    const video = doc.paths['/aggregates/video/{id}/commands']!.post!.requestBody!.content!['application/json']!.schema as { oneOf: unknown[] };
    expect(video.oneOf).toHaveLength(1);
    expect(JSON.stringify(doc)).not.toContain('StartProcessing');
  });
});

describe('the answers match the documented schemas', () => {
  const ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: true });

  /** The operation a request reached: a static segment wins over a parameter, as in the router. */
  function operationOf(method: string, url: string): [string, Operation] {
    const path = url.split('?')[0]!;
    const candidates = Object.keys(doc.paths)
      .filter((template) => new RegExp(`^${template.replace(/[.]/g, '\\.').replace(/\{[^}]+\}/g, '[^/]+')}$`).test(path) && doc.paths[template]![method.toLowerCase()])
      .sort((a, b) => (a.match(/\{/g)?.length ?? 0) - (b.match(/\{/g)?.length ?? 0));
    const template = candidates[0];
    if (!template) throw new Error(`no documented operation for ${method} ${path}`);
    return [template, doc.paths[template]![method.toLowerCase()]!];
  }

  /** Checks the answer against the schema of its status (exact, then `4XX`, then `default`) and its media type. */
  function expectDocumented(res: LightMyRequestResponse, method: string, url: string): void {
    const [template, op] = operationOf(method, url);
    const status = String(res.statusCode);
    const documented = op.responses?.[status] ?? op.responses?.[`${status[0]}XX`] ?? op.responses?.default;
    expect(documented, `${method} ${template} answered ${status}, which it does not document`).toBeDefined();
    const type = String(res.headers['content-type'] ?? '').split(';')[0]!;
    if (!documented!.content) {
      expect(res.rawPayload.length, `${method} ${template} ${status} has no body`).toBe(0);
      return;
    }
    const media = documented!.content[type];
    expect(media, `${method} ${template} ${status} answered ${type}; documented: ${Object.keys(documented!.content).join(', ')}`).toBeDefined();
    if (type !== 'application/json') return;
    const schema = JSON.parse(JSON.stringify({ ...media!.schema, $defs: doc.components.schemas }).replaceAll('#/components/schemas/', '#/$defs/')) as Json;
    const validate = ajv.compile(schema);
    const ok = validate(res.json());
    expect(ok ? [] : validate.errors, `${method} ${url} -> ${status}: ${res.body.slice(0, 300)}`).toEqual([]);
  }

  async function call(method: string, url: string, options: { body?: unknown; headers?: Record<string, string>; payload?: Buffer } = {}, expected?: number): Promise<LightMyRequestResponse> {
    const json = method === 'POST' && options.payload === undefined;
    const res = await app.inject({
      method: method as 'GET',
      url,
      headers: { ...(json ? { 'content-type': 'application/json' } : {}), ...options.headers },
      ...(options.body !== undefined ? { payload: JSON.stringify(options.body) } : options.payload ? { payload: options.payload } : {}),
    });
    if (expected !== undefined) expect(res.statusCode, `${method} ${url}: ${res.body.slice(0, 300)}`).toBe(expected);
    expectDocumented(res, method, url);
    return res;
  }

  it('aggregates: commands (applied, repeated, refused), state, history, diffs, unknown types', async () => {
    const cmd = (id: string, body: unknown, expected: number) => call('POST', `/aggregates/account/${id}/commands`, { body }, expected);
    await cmd('acc-1', { type: 'Open', data: { owner: 'Ada' } }, 200);
    const deposit = await cmd('acc-1', { type: 'Deposit', data: { amount: 500 }, commandId: 'dep-1' }, 200);
    expect((await cmd('acc-1', { type: 'Deposit', data: { amount: 500 }, commandId: 'dep-1' }, 200)).json()).toMatchObject({ duplicate: true });
    await cmd('acc-1', { type: 'Withdraw', data: { amount: 99_999 } }, 422);
    await cmd('acc-1', { type: 'Deposit', data: { amount: '5' } }, 400);
    await cmd('acc-1', { type: 'Explode' }, 400);
    await cmd('acc-1', { type: 'Deposit', data: { amount: 1 }, expectedVersion: 9 }, 409);
    await cmd('acc-1', { type: 'Open', data: { owner: 'Ada' } }, 409);
    await call('POST', '/aggregates/account/acc-1/commands', { body: { type: 'Open', data: {} }, headers: { 'content-type': 'text/plain' } }, 415);
    await call('POST', '/aggregates/nope/acc-1/commands', { body: { type: 'X' } }, 404);
    await call('GET', '/aggregates/account/acc-1', {}, 200);
    await call('GET', '/aggregates/account/acc-1?version=1', {}, 200);
    await call('GET', '/aggregates/account/acc-1?version=99', {}, 404);
    await call('GET', '/aggregates/account/acc-nope', {}, 404);
    await call('GET', '/aggregates/account/bad%20id', {}, 400);
    await call('GET', '/aggregates/account/acc-1?at=yesterday', {}, 400);
    expect((await call('GET', '/aggregates/account/acc-1/events?limit=1', {}, 200)).json()).toMatchObject({ next: 2 });
    await call('GET', '/aggregates/account/acc-1/events?limit=0', {}, 400);
    await call('GET', '/aggregates/account/acc-1/diff?from=0&to=2', {}, 200);
    await call('GET', '/aggregates/account/acc-1/diff?from=x&to=2', {}, 400);
    await call('GET', '/aggregates/nope/acc-1', {}, 404);
    await call('GET', '/aggregates/nope/acc-1/events', {}, 404);
    await call('GET', '/aggregates/nope/acc-1/diff?from=1&to=2', {}, 404);
    // A method a path does not have: no operation, the error body all the same.
    const wrongMethod = await app.inject({ method: 'DELETE', url: '/aggregates/account/acc-1' });
    expect(wrongMethod.statusCode).toBe(405);
    const errorBody = ajv.compile(doc.components.schemas.ErrorBody!);
    expect(errorBody(wrongMethod.json()), wrongMethod.body).toBe(true);
    const position = (deposit.json() as { position: string }).position;
    await call('GET', `/views/balances/acc-1?position=${position}`, {}, 200);
  });

  it('views: rows, pages, rebuild, reconcile', async () => {
    await call('GET', '/views/balances?limit=1', {}, 200);
    await call('GET', '/views/balances/acc-nope', {}, 404);
    await call('GET', '/views/nope', {}, 404);
    await call('GET', '/views/balances?limit=0', {}, 400);
    await call('POST', '/views/balances/rebuild', { body: { stray: 1 } }, 400);
    await call('POST', '/views/balances/rebuild', {}, 202);
    await call('GET', '/views/balances/rebuild', {}, 200);
    await call('POST', '/views/balances/reconcile?max=5', { body: {} }, 200);
    await call('POST', '/views/nope/reconcile', {}, 404);
  });

  it('system and admin: partitions, health, metrics, storage, partitions resume, verify, backup', async () => {
    await call('GET', '/partitions', {}, 200);
    await call('GET', '/health', {}, 200);
    await call('GET', '/metrics', {}, 200);
    await call('GET', '/openapi.json', {}, 200);
    await call('POST', '/admin/storage/resume', {}, 200);
    await call('POST', '/admin/partitions/0/resume', { body: {} }, 200);
    await call('POST', '/admin/partitions/9/resume', {}, 400);
    await call('POST', '/admin/partitions/x/resume', {}, 400);
    await call('GET', '/admin/verify', {}, 200);
    await call('POST', '/admin/verify', {}, 200);
    await call('POST', '/admin/backup', { body: { name: 'b1' } }, 201);
    await call('POST', '/admin/backup', { body: { name: 'b1' } }, 409);
    await call('POST', '/admin/backup', { body: { name: '..' } }, 400);
  });

  it('data lifecycle: retention settings, reads before a cut, deletion and undelete', async () => {
    const cmd = (id: string, body: unknown) => call('POST', `/aggregates/account/${id}/commands`, { body }, 200);
    await cmd('life-1', { type: 'Open', data: { owner: 'Ada' } });
    await cmd('life-1', { type: 'Deposit', data: { amount: 5 } });
    await cmd('life-1', { type: 'Deposit', data: { amount: 6 } });
    const put = (url: string, body: unknown, expected: number) => call('PUT', url, { body, headers: { 'content-type': 'application/json' } }, expected);
    await put('/admin/retention/account/life-1', { settings: { truncateBefore: 2 } }, 200);
    await put('/admin/retention/account/life-1', { settings: { truncateBefore: 9 } }, 400);
    await put('/admin/retention/account', { settings: { maxAge: 60_000 } }, 200);
    await put('/admin/retention/account', { settings: null }, 200);
    await put('/admin/retention/nope', { settings: null }, 404);
    await call('GET', '/admin/retention/account', {}, 200);
    await call('GET', '/admin/retention/account/life-1', {}, 200);
    await call('GET', '/aggregates/account/life-1/events', {}, 200);
    await call('GET', '/aggregates/account/life-1/events?from=1', {}, 410);
    await call('GET', '/aggregates/account/life-1?version=1', {}, 410);
    await call('GET', '/aggregates/account/life-1/diff?from=0&to=3', {}, 410);
    await call('POST', '/admin/streams/account/life-1/undelete', {}, 409);
    await call('POST', '/admin/streams/account/life-1/delete', { body: {} }, 200);
    await call('GET', '/aggregates/account/life-1', {}, 404);
    await call('POST', '/admin/streams/account/life-1/undelete', { body: { commandId: 'undo-1' } }, 200);
    await call('POST', '/admin/streams/account/life-1/delete', { body: { hard: true } }, 200);
    await call('GET', '/aggregates/account/life-1', {}, 410);
    await call('POST', '/admin/streams/account/life-1/delete', {}, 410);
    await call('POST', '/admin/streams/account/nobody/delete', {}, 404);
    await call('GET', '/admin/audit?limit=2', {}, 200);
    await call('GET', '/admin/audit?from=1', {}, 200);
    await call('GET', '/admin/audit?before=1&from=1', {}, 400);
  });

  it('videos: upload, status, events, list, cancel, files, and their errors', async () => {
    const up = await call('POST', '/videos', { payload: Buffer.from('not a video at all'), headers: { 'content-type': 'application/octet-stream' } }, 202);
    const id = (up.json() as { id: string }).id;
    await call('POST', '/videos', { payload: Buffer.from('x'), headers: { 'content-type': 'text/plain' } }, 415);
    await call('GET', `/videos/${id}`, {}, 200);
    await pipeline.idle();
    expect((await call('GET', `/videos/${id}`, {}, 200)).json()).toMatchObject({ status: 'FAILED', error: { retriable: false } });
    await call('GET', `/videos/${id}/events`, {}, 200);
    await call('GET', '/videos?limit=5', {}, 200);
    await call('GET', '/videos?status=DONE', {}, 400);
    await call('GET', '/videos/v-nope', {}, 404);
    await call('GET', '/videos/bad%20id', {}, 400);
    await call('GET', '/videos/v-nope/events', {}, 404);
    await call('GET', `/videos/${id}/renditions/240`, {}, 404);
    await call('GET', `/videos/${id}/renditions/abc`, {}, 400);
    await call('GET', `/videos/${id}/thumbnail`, {}, 404);
    await call('POST', `/videos/${id}/cancel`, { body: { reason: 'late' } }, 409);
    await call('POST', `/videos/${id}/cancel`, { body: { why: 'x' } }, 400);
    await call('POST', '/videos/v-nope/cancel', {}, 404);
  });

  it('the feed and the dashboard', async () => {
    await call('GET', '/feed', {}, 426);
    await call('GET', '/feed?type=nope', {}, 404);
    await call('GET', '/feed?from=1.2', {}, 400);
    await call('GET', '/', {}, 200);
    await call('GET', '/dashboard/app.js', {}, 200);
    await call('GET', '/dashboard/style.css', {}, 200);
  });
});
