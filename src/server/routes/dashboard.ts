/**
 * `GET /` and `/dashboard/*`: the live dashboard, three static files served from memory.
 *
 * Why no build step and no static-file plugin: the page is one HTML file, one script and one stylesheet,
 * read once at startup. The files live in `src/server/dashboard/` and are found from the sources or from
 * the compiled `dist/src/server/routes/` (tsc does not copy them, so the compiled module looks back into src/).
 *
 * The Content-Security-Policy allows only this origin's script, style and connections: the page puts
 * data into the DOM with `textContent` only, and the CSP makes an injected script inert anyway.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { FastifyPluginAsync } from 'fastify';
import { ErrorCodes, RuntimeError } from '../../kernel/index.js';

const FILES = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'style.css': 'text/css; charset=utf-8',
} as const;
type DashboardFile = keyof typeof FILES;

const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** The folder holding the dashboard files, from the sources or from dist/. */
export function dashboardDir(): string {
  const candidates = [new URL('../dashboard/', import.meta.url), new URL('../../../../src/server/dashboard/', import.meta.url)];
  for (const url of candidates) if (existsSync(new URL('index.html', url))) return fileURLToPath(url);
  throw new RuntimeError(ErrorCodes.Internal, `dashboard files not found (looked in ${candidates.map((u) => fileURLToPath(u)).join(', ')})`);
}

export const dashboardRoutes: FastifyPluginAsync = async (app) => {
  const dir = dashboardDir();
  const body = Object.fromEntries(Object.keys(FILES).map((f) => [f, readFileSync(`${dir}/${f}`)])) as Record<DashboardFile, Buffer>;
  const serve = (file: DashboardFile) => async (_request: unknown, reply: import('fastify').FastifyReply) => {
    reply
      .type(FILES[file])
      .header('content-security-policy', CSP)
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer')
      .header('cache-control', 'no-cache');
    return body[file];
  };
  const schema = (file: DashboardFile, summary: string) => ({
    schema: { summary, response: { 200: { description: file, content: { [FILES[file].split(';')[0]!]: { schema: { type: 'string' } } } } } },
  });
  app.get('/', schema('index.html', 'The dashboard page (needs no token; it asks for one when the API does)'), serve('index.html'));
  app.get('/dashboard/app.js', schema('app.js', "The dashboard's script"), serve('app.js'));
  app.get('/dashboard/style.css', schema('style.css', "The dashboard's stylesheet"), serve('style.css'));
};
