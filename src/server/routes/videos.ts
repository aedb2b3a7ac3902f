/**
 * `/videos`: uploads, status, history, renditions (with Range) and cancel, over a `VideoPipeline`.
 *
 * `videoRoutes({ runtime, pipeline })` returns a plugin for `buildServer({ plugins })` or any fastify
 * instance. It is encapsulated on purpose: its octet-stream parser (which hands the raw request stream
 * to the handler, so an upload is streamed to disk and never buffered) and its error handler apply to
 * these routes only.
 *
 * Gotchas:
 * - The upload's Content-Type is checked in `onRequest`, before any byte of the body is read: a JSON or
 *   multipart body, or one without a Content-Type, gets 415 instead of being parsed by another parser up
 *   to its body limit. The route says `config: { ownMediaTypes: true }` so the server's JSON-only rule
 *   (json-body.ts) leaves it to this check; its types are not CORS-safelisted, so a web page still cannot
 *   upload cross-site without a preflight. `POST /videos/:id/cancel` follows the JSON-only rule.
 * - A 413, 415, 429 or 503 closes the connection (`connection: close`): the client may still be sending a body
 *   that nobody will read, and draining up to 2 GiB to keep the connection alive is not worth it.
 * - Nothing from the request reaches a file path: ids are made by the server, and files are found
 *   through the paths the log recorded, checked by `VideoStorage.absolute`. Those paths come only from
 *   the pipeline: the commands that record them are internal (the video decider's `publicCommands`).
 * - Files are served with a fixed type (`video/mp4`, `image/jpeg`) and `X-Content-Type-Options: nosniff`,
 *   set here because this plugin may also run in a plain fastify app without the server's hooks.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { VideoState, VideoStatus } from '../../domain/index.js';
import { ErrorCodes, ID_PATTERN, RuntimeError, isValidId } from '../../kernel/index.js';
import type { Runtime } from '../../runtime/index.js';
import { ACCEPTED_UPLOAD_TYPE, type VideoPipeline } from '../../video/index.js';
import { envelopeJson } from '../envelope-json.js';
import { NOSNIFF, sendError } from '../error-handlers.js';
import { mediaTypeOf } from '../json-body.js';

export interface VideoRoutesOptions {
  runtime: Runtime;
  pipeline: VideoPipeline;
}

/** What `GET /videos/:id` answers: status derived from the log, URLs instead of server paths. */
export interface VideoView {
  id: string;
  version: number;
  status: VideoStatus;
  attempt: number;
  progress: number;
  source: { bytes: number; sha256: string; contentType: string | null } | null;
  renditions: Array<{ height: number; bytes: number; url: string }>;
  thumbnail?: string;
  error?: { reason: string; retriable: boolean; attempt: number };
}

const STATUSES: readonly VideoStatus[] = ['UPLOADED', 'PROCESSING', 'SUCCEEDED', 'FAILED', 'CANCELLED'];
const MAX_EVENTS_PAGE = 1000;
const MAX_LIST_PAGE = 1000;

/** A plugin for any fastify instance; it also fits `buildServer({ plugins: [videoRoutes(...)] })`. */
export function videoRoutes({ runtime, pipeline }: VideoRoutesOptions): FastifyPluginAsync {
  return async (app: FastifyInstance) => {
    const base = `${app.prefix}/videos`;

    // Hand the request stream itself to the upload handler (see the header).
    const passThrough = (_req: FastifyRequest, payload: NodeJS.ReadableStream, done: (err: Error | null, body?: unknown) => void): void => done(null, payload);
    if (app.hasContentTypeParser('application/octet-stream')) app.removeContentTypeParser('application/octet-stream');
    app.addContentTypeParser('application/octet-stream', passThrough);
    app.addContentTypeParser(/^video\//, passThrough);

    // The client may still be sending a body nobody will read: close rather than drain it.
    app.setErrorHandler((err, request, reply) => sendError(err, request, reply, (r) => (r.status === 413 || r.status === 415 || r.status === 429 || r.status === 503 ? { connection: 'close' } : {})));

    app.post(
      '/videos',
      {
        config: { ownMediaTypes: true },
        onRequest: async (request) => {
          const type = mediaTypeOf(request.headers['content-type']);
          if (type === undefined || !ACCEPTED_UPLOAD_TYPE.test(type)) {
            throw new RuntimeError(
              ErrorCodes.UnsupportedMediaType,
              `send the video file as the raw body with Content-Type application/octet-stream (or video/*)${type === undefined ? '; the request has no Content-Type' : `, not ${JSON.stringify(type.slice(0, 80))}`}`,
            );
          }
          const declared = declaredLength(request);
          if (declared !== undefined && declared > pipeline.maxUploadBytes) {
            throw new RuntimeError(ErrorCodes.PayloadTooLarge, `the upload is ${declared} bytes; the limit is ${pipeline.maxUploadBytes}`, { limit: pipeline.maxUploadBytes });
          }
        },
      },
      async (request, reply) => {
        if (!(request.body instanceof Readable)) throw new RuntimeError(ErrorCodes.InvalidCommand, 'the upload is empty; send the video file as the request body');
        // The quota of queued encode seconds is per remote address (a token name can replace it).
        const r = await pipeline.upload(request.body, { contentType: request.headers['content-type'], declaredBytes: declaredLength(request), client: request.ip });
        return reply.code(202).header('location', `${base}/${r.id}`).send({ id: r.id, status: r.status, bytes: r.bytes, sha256: r.sha256 });
      },
    );

    app.get<{ Querystring: Record<string, string | undefined> }>('/videos', async (request) => {
      const q = request.query;
      const status = q.status;
      if (status !== undefined && !STATUSES.includes(status as VideoStatus)) throw invalidQuery(`status must be one of ${STATUSES.join(', ')}`);
      const after = q.after;
      if (after !== undefined && !isValidId(after)) throw invalidQuery(`after must be a video id`);
      const limit = intParam(q.limit, 'limit', 1, MAX_LIST_PAGE, 50);
      const page = await pipeline.list({ limit, ...(status !== undefined ? { status: status as VideoStatus } : {}), ...(after !== undefined ? { after } : {}) });
      return { videos: page.videos.map((v) => videoView(base, v.id, v.version, v.state)), next: page.next };
    });

    app.get<{ Params: { id: string } }>('/videos/:id', async (request) => {
      const id = videoId(request.params.id);
      const v = await runtime.load<VideoState>('video', id);
      return videoView(base, id, v.version, v.state);
    });

    app.get<{ Params: { id: string }; Querystring: Record<string, string | undefined> }>('/videos/:id/events', async (request) => {
      const id = videoId(request.params.id);
      const from = intParam(request.query.from, 'from', 1, Number.MAX_SAFE_INTEGER, 1);
      const limit = intParam(request.query.limit, 'limit', 1, MAX_EVENTS_PAGE, 100);
      const events = await runtime.history('video', id, { from, limit });
      return { id, events: events.map(envelopeJson) };
    });

    app.get<{ Params: { id: string; height: string } }>('/videos/:id/renditions/:height', async (request, reply) => {
      const id = videoId(request.params.id);
      const raw = request.params.height;
      if (!/^[1-9][0-9]{0,3}$/.test(raw)) throw invalidQuery(`height must be an integer in [1, 9999], got ${JSON.stringify(raw.slice(0, 20))}`);
      const height = Number(raw);
      const { state } = await runtime.load<VideoState>('video', id);
      const r = state.renditions.find((x) => x.height === height);
      if (!r) throw notFound(`video ${id} has no ${height}p rendition${state.renditions.length ? `; it has ${state.renditions.map((x) => x.height).join(', ')}` : ' yet'}`);
      return sendFile(request, reply, pipeline.storage.absolute(id, r.path), 'video/mp4');
    });

    app.get<{ Params: { id: string } }>('/videos/:id/thumbnail', async (request, reply) => {
      const id = videoId(request.params.id);
      const { state } = await runtime.load<VideoState>('video', id);
      if (!state.thumbnail) throw notFound(`video ${id} has no thumbnail`);
      return sendFile(request, reply, pipeline.storage.absolute(id, state.thumbnail), 'image/jpeg');
    });

    app.post<{ Params: { id: string } }>('/videos/:id/cancel', async (request) => {
      const id = videoId(request.params.id);
      const body = request.body as { reason?: unknown } | undefined | null;
      const reason = body && typeof body === 'object' && !(body instanceof Readable) ? body.reason : undefined;
      if (reason !== undefined && (typeof reason !== 'string' || reason.length > 500)) throw new RuntimeError(ErrorCodes.InvalidCommand, 'reason must be a string of at most 500 characters');
      const r = await pipeline.cancel(id, reason);
      return videoView(base, id, r.version, r.state);
    });
  };
}

export function videoView(base: string, id: string, version: number, s: VideoState): VideoView {
  return {
    id,
    version,
    status: s.status,
    attempt: s.attempt,
    progress: s.progress,
    source: s.source ? { bytes: s.source.bytes, sha256: s.source.sha256, contentType: s.source.contentType } : null,
    renditions: s.renditions.map((r) => ({ height: r.height, bytes: r.bytes, url: `${base}/${id}/renditions/${r.height}` })),
    ...(s.thumbnail ? { thumbnail: `${base}/${id}/thumbnail` } : {}),
    ...(s.error ? { error: { ...s.error } } : {}),
  };
}

/**
 * Serves a file with single-range support (RFC 9110): `bytes=a-b`, `bytes=a-`, `bytes=-n` -> 206 with
 * Content-Range; a range starting past the end -> 416; a malformed or multi-range header is ignored
 * (200, whole file), as the RFC allows. `If-Range` is honoured: a Range is used only when If-Range is
 * absent or names this file's current validator (its strong ETag, or exactly its Last-Modified date);
 * otherwise the whole file is sent (200), so a client resuming a download of a file that changed does
 * not splice two files together. Files are written once and renamed into place, so size + mtime make a
 * strong validator.
 */
async function sendFile(request: FastifyRequest, reply: FastifyReply, path: string, type: string): Promise<FastifyReply> {
  let info: { size: number; mtimeMs: number };
  try {
    info = await stat(path);
  } catch {
    throw notFound('the file is missing from the video store');
  }
  const { size } = info;
  const lastModified = new Date(Math.floor(info.mtimeMs / 1000) * 1000);
  const etag = `"${size.toString(16)}-${Math.floor(info.mtimeMs).toString(16)}"`;
  reply.header('accept-ranges', 'bytes').header('etag', etag).header('last-modified', lastModified.toUTCString()).header('x-content-type-options', NOSNIFF).type(type);
  const ifRange = request.headers['if-range'];
  // Several If-Range headers cannot match one validator: the whole file, as for a mismatch.
  const range = ifRangeMatches(Array.isArray(ifRange) ? ifRange.join(', ') : ifRange, etag, lastModified) ? parseRange(request.headers.range, size) : null;
  if (range === 'unsatisfiable') {
    // 416 is this route's alone, so it is answered here rather than through the shared status table.
    return reply
      .code(416)
      .header('content-range', `bytes */${size}`)
      .type('application/json')
      .send({ error: ErrorCodes.InvalidQuery, message: `range ${JSON.stringify(String(request.headers.range).slice(0, 60))} is outside the ${size}-byte file`, size });
  }
  if (range === null) return reply.header('content-length', String(size)).send(createReadStream(path));
  const { start, end } = range;
  return reply
    .code(206)
    .header('content-range', `bytes ${start}-${end}/${size}`)
    .header('content-length', String(end - start + 1))
    .send(createReadStream(path, { start, end }));
}

/** RFC 9110 13.1.5: a strong ETag compared strongly (a weak one never matches), or an exact HTTP-date. */
export function ifRangeMatches(header: string | undefined, etag: string, lastModified: Date): boolean {
  if (header === undefined) return true;
  const v = header.trim();
  if (v.startsWith('"')) return v === etag;
  if (v.startsWith('W/')) return false;
  const t = Date.parse(v);
  return Number.isFinite(t) && t === lastModified.getTime();
}

export function parseRange(header: string | undefined, size: number): { start: number; end: number } | 'unsatisfiable' | null {
  const m = header ? /^bytes=(\d{0,15})-(\d{0,15})$/.exec(header.trim()) : null;
  if (!m || (m[1] === '' && m[2] === '')) return null;
  if (m[1] === '') {
    const n = Number(m[2]);
    if (n === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? Number.MAX_SAFE_INTEGER : Number(m[2]);
  if (end < start) return null;
  if (start >= size) return 'unsatisfiable';
  return { start, end: Math.min(end, size - 1) };
}

function videoId(id: string): string {
  if (isValidId(id)) return id;
  throw new RuntimeError(ErrorCodes.InvalidId, `id must match ${ID_PATTERN}`, { id: String(id).slice(0, 140) });
}

function declaredLength(request: FastifyRequest): number | undefined {
  const h = request.headers['content-length'];
  return h !== undefined && /^\d{1,16}$/.test(h) ? Number(h) : undefined;
}

function intParam(raw: string | undefined, name: string, min: number, max: number, dflt: number): number {
  if (raw === undefined) return dflt;
  const n = /^\d{1,16}$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) throw invalidQuery(`${name} must be an integer in [${min}, ${max}]`);
  return n;
}

function invalidQuery(message: string): RuntimeError {
  return new RuntimeError(ErrorCodes.InvalidQuery, message);
}

function notFound(message: string): RuntimeError {
  return new RuntimeError(ErrorCodes.NotFound, message);
}
