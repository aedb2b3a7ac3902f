/**
 * `GET /`, `/dashboard/:file` and `/dashboard/vendor/:file`: the operations console, static files served
 * from memory.
 *
 * Why no build step and no static-file plugin: the page is one HTML file, one stylesheet and a few small
 * ES modules, read once at startup. The files live in `src/server/dashboard/` and are found from the
 * sources or from the compiled `dist/src/server/routes/` (tsc does not copy them, so the compiled module
 * looks back into src/). Every `*.js` and `*.css` file of that folder is served under its own name; a
 * name that is not one of them is 404, so no part of a request ever reaches a file path.
 *
 * The charts use uPlot, served from the installed package (`uplot/dist/...`, resolved through Node's
 * module resolution at startup): the page loads nothing from another origin.
 *
 * The Content-Security-Policy allows only this origin's scripts, styles, images, media and connections
 * (`blob:` for thumbnails and renditions fetched with a token): the page puts data into the DOM with
 * `textContent` only, and the CSP makes an injected script inert anyway.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import { ErrorCodes, RuntimeError } from '../../kernel/index.js';

const TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
};

/** The page's own files: lower-case names, one dot. */
const PAGE_FILE = /^[a-z][a-z0-9-]*\.(?:js|css)$/;

/** Third-party browser files: the name served -> the package file it is read from. */
const VENDOR_FILES = {
  'uPlot.iife.min.js': 'uplot/dist/uPlot.iife.min.js',
  'uPlot.min.css': 'uplot/dist/uPlot.min.css',
} as const;

const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data: blob:",
  "media-src 'self' blob:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

interface StaticFile {
  type: string;
  body: Buffer;
}

/** The folder holding the dashboard files, from the sources or from dist/. */
export function dashboardDir(): string {
  const candidates = [new URL('../dashboard/', import.meta.url), new URL('../../../../src/server/dashboard/', import.meta.url)];
  for (const url of candidates) if (existsSync(new URL('index.html', url))) return fileURLToPath(url);
  throw new RuntimeError(ErrorCodes.Internal, `dashboard files not found (looked in ${candidates.map((u) => fileURLToPath(u)).join(', ')})`);
}

function typeOf(name: string): string {
  return TYPES[name.slice(name.lastIndexOf('.') + 1)] ?? 'application/octet-stream';
}

/** The page's files, by name. */
function pageFiles(dir: string): Map<string, StaticFile> {
  const files = new Map<string, StaticFile>();
  for (const name of readdirSync(dir)) if (PAGE_FILE.test(name)) files.set(name, { type: typeOf(name), body: readFileSync(`${dir}/${name}`) });
  return files;
}

/** uPlot's files, resolved from the installed package (never from anything a request says). */
function vendorFiles(): Map<string, StaticFile> {
  const require = createRequire(import.meta.url);
  const files = new Map<string, StaticFile>();
  for (const [name, specifier] of Object.entries(VENDOR_FILES)) files.set(name, { type: typeOf(name), body: readFileSync(require.resolve(specifier)) });
  return files;
}

export const dashboardRoutes: FastifyPluginAsync = async (app) => {
  const dir = dashboardDir();
  const index: StaticFile = { type: TYPES['html']!, body: readFileSync(`${dir}/index.html`) };
  const page = pageFiles(dir);
  const vendor = vendorFiles();
  const send = (reply: FastifyReply, file: StaticFile | undefined, name: string): Buffer => {
    if (!file) throw new RuntimeError(ErrorCodes.NotFound, `no dashboard file ${JSON.stringify(name.slice(0, 64))}`);
    void reply
      .type(file.type)
      .header('content-security-policy', CSP)
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer')
      .header('cache-control', 'no-cache');
    return file.body;
  };
  const fileParams = { type: 'object', required: ['file'], properties: { file: { type: 'string', minLength: 1, maxLength: 64 } } } as const;
  // For the OpenAPI document (openapi.ts): what each route answers; the bytes are never serialized.
  const answers = (types: string[], description: string) => ({ 200: { description, content: Object.fromEntries(types.map((t) => [t, { schema: { type: 'string' } }])) } });
  app.get('/', { schema: { summary: 'The console page (needs no token; it asks for one when the API does)', response: answers(['text/html'], 'index.html') } }, async (_request, reply) => send(reply, index, 'index.html'));
  app.get<{ Params: { file: string } }>(
    '/dashboard/:file',
    { schema: { summary: "The console's own scripts and stylesheet, by name", params: fileParams, response: answers(['text/javascript', 'text/css'], 'the file') } },
    async (request, reply) => send(reply, page.get(request.params.file), request.params.file),
  );
  app.get<{ Params: { file: string } }>(
    '/dashboard/vendor/:file',
    { schema: { summary: "uPlot's browser build (uPlot.iife.min.js, uPlot.min.css), for the console's charts", params: fileParams, response: answers(['text/javascript', 'text/css'], 'the file') } },
    async (request, reply) => send(reply, vendor.get(request.params.file), request.params.file),
  );
};
