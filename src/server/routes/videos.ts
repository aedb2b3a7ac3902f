/**
 * `/videos`: uploads, status, history, renditions and thumbnails (conditional and Range requests), and cancel,
 * over a `VideoPipeline`.
 *
 * `videoRoutes({ runtime, pipeline })` returns a plugin for `buildServer({ plugins })` or any fastify
 * instance. It is encapsulated on purpose: its octet-stream parser (which hands the raw request stream
 * to the handler, so an upload is streamed to disk and never buffered), its error handler and its
 * compilers apply to these routes only, and it brings the shared schemas it references when the app has
 * none (api-schemas.ts), so it also runs in a plain fastify app.
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
 * - Cluster mode (the server's `routing`): a video's reads (status, list, events, files) and its cancel
 *   go to its partition's owner when this server does not serve it, as the aggregate routes do; a file
 *   is then served from this server's copy, fetched from the object store on first use
 *   (`pipeline.localFile`), with the same validators on every server. An upload is taken by whichever
 *   server it reaches (pipeline.ts says how its id is chosen).
 * - Files are served by file-reply.ts with a fixed type (`video/mp4`, `image/jpeg`) and
 *   `X-Content-Type-Options: nosniff`, set there because this plugin may also run in a plain fastify app
 *   without the server's hooks.
 */
import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { VideoState, VideoStatus } from '../../domain/index.js';
import { ErrorCodes, RuntimeError, errors } from '../../kernel/index.js';
import type { LoadResult, Runtime } from '../../runtime/index.js';
import { ACCEPTED_UPLOAD_TYPE, type VideoPipeline } from '../../video/index.js';
import { addSharedSchemas, envelopeRef, errorResponses, idParams, idSchema } from '../api-schemas.js';
import { FORWARDED_TO_HEADER, type ClusterRouting } from '../cluster-routing.js';
import { envelopeJson } from '../envelope-json.js';
import { sendError } from '../error-handlers.js';
import { sendFile } from '../file-reply.js';
import { mediaTypeOf } from '../json-body.js';
import { jsonSerializerCompiler, schemaCompiler } from '../schema-compilers.js';

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

const count = { type: 'integer', minimum: 0 } as const;
const videoViewSchema = {
  type: 'object',
  required: ['id', 'version', 'status', 'attempt', 'progress', 'source', 'renditions'],
  additionalProperties: false,
  properties: {
    id: { type: 'string' },
    version: count,
    status: { enum: STATUSES },
    attempt: count,
    progress: { type: 'number', minimum: 0, maximum: 100, description: 'Percent of the current attempt' },
    source: {
      type: ['object', 'null'],
      required: ['bytes', 'sha256', 'contentType'],
      additionalProperties: false,
      properties: { bytes: count, sha256: { type: 'string' }, contentType: { type: ['string', 'null'] } },
    },
    renditions: {
      type: 'array',
      items: { type: 'object', required: ['height', 'bytes', 'url'], additionalProperties: false, properties: { height: { type: 'integer' }, bytes: count, url: { type: 'string' } } },
    },
    thumbnail: { type: 'string', description: "The thumbnail's URL, once there is one" },
    error: {
      type: 'object',
      required: ['reason', 'retriable', 'attempt'],
      additionalProperties: false,
      properties: { reason: { type: 'string' }, retriable: { type: 'boolean' }, attempt: count },
    },
  },
} as const;
const videoParams = { ...idParams, properties: { id: { ...idSchema, description: 'The video id (made by the server at upload)' } } } as const;
const fileHeaders = {
  type: 'object',
  properties: {
    range: { type: 'string', description: 'One byte range: `bytes=a-b`, `bytes=a-`, `bytes=-n` (others are ignored: the whole file)' },
    'if-range': { type: 'string', description: 'Use the Range only while the file is still the one with this ETag or Last-Modified; else the whole file' },
    'if-none-match': { type: 'string', description: 'An ETag the client has: 304 while it is still current' },
    'if-modified-since': { type: 'string', description: 'A Last-Modified the client has: 304 while the file is not newer' },
  },
} as const;
const validators = {
  etag: { type: 'string', description: 'Strong: the file\'s size and modification time' },
  'last-modified': { type: 'string' },
  'accept-ranges': { type: 'string', enum: ['bytes'] },
  'cache-control': { type: 'string', enum: ['private, no-cache'] },
} as const;
const fileResponses = (type: string, what: string) => ({
  200: { description: `The whole ${what}`, headers: validators, content: { [type]: { schema: { description: what } } } },
  206: { description: `One range of the ${what}`, headers: { ...validators, 'content-range': { type: 'string', description: '`bytes a-b/size`' } }, content: { [type]: { schema: { description: what } } } },
  304: { description: 'Not modified: the ETag or date the client sent is still current', headers: validators, type: 'null' },
  ...errorResponses({
    400: '`InvalidId`, `InvalidQuery`',
    404: '`StreamNotFound` (no such video), `NotFound` (no such file yet)',
    412: '`PreconditionFailed`: `If-Match` / `If-Unmodified-Since` do not hold',
    416: '`RangeNotSatisfiable` (`size`; `Content-Range: bytes */<size>`): the range starts past the end',
  }),
});

/** A plugin for any fastify instance; it also fits `buildServer({ plugins: [videoRoutes(...)] })`. */
export function videoRoutes({ runtime, pipeline }: VideoRoutesOptions): FastifyPluginAsync<{ routing?: ClusterRouting | undefined }> {
  return async (app: FastifyInstance, { routing }) => {
    const base = `${app.prefix}/videos`;

    /** A video's state: this server's, or (cluster mode) its owner's when this server does not serve it. */
    const loadVideo = (id: string, reply?: FastifyReply): Promise<LoadResult<VideoState>> =>
      runtime.load<VideoState>('video', id).catch(async (refusal: unknown) => {
        if (!routing) throw refusal;
        const f = await routing.state(refusal, 'video', id, {});
        if (reply) void reply.header(FORWARDED_TO_HEADER, f.owner);
        return { id: f.body.id, type: f.body.type, version: f.body.version, state: f.body.state as VideoState };
      });

    app.setValidatorCompiler(schemaCompiler());
    app.setSerializerCompiler(jsonSerializerCompiler);
    addSharedSchemas(app);

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
        schema: {
          summary: 'Upload a video; it is encoded in the background',
          description: 'The raw file as the body (not multipart). Its status, progress and renditions: `GET /videos/:id`.',
          // Schemas without a type: they document the body, and accept the stream the parser hands over.
          body: { content: { 'application/octet-stream': { schema: { description: 'The video file' } }, 'video/*': { schema: { description: 'The video file' } } } },
          response: {
            202: {
              description: 'Stored; the encode is queued (`Location`: the video)',
              type: 'object',
              required: ['id', 'status', 'bytes', 'sha256'],
              additionalProperties: false,
              properties: { id: { type: 'string' }, status: { const: 'UPLOADED' }, bytes: count, sha256: { type: 'string' } },
            },
            ...errorResponses({
              400: '`InvalidCommand`: an empty body',
              413: '`PayloadTooLarge`: over the upload cap',
              415: '`UnsupportedMediaType`: not `application/octet-stream` or `video/*`, or no Content-Type',
              429: '`QuotaExceeded`: this client\'s queued encode seconds',
              503: '`Overloaded`: the encode queue is full; `NotOwner` (cluster mode): this server serves no partition now, or the new video\'s partition moved during the upload (retry after `Retry-After`)',
            }),
          },
        },
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

    app.get<{ Querystring: { status?: VideoStatus; after?: string; limit: number } }>(
      '/videos',
      {
        schema: {
          summary: 'Videos, a page at a time',
          querystring: {
            type: 'object',
            additionalProperties: false,
            properties: {
              status: { enum: STATUSES, description: 'Only videos in this status' },
              after: { ...idSchema, description: 'The `next` of the previous page' },
              limit: { type: 'integer', minimum: 1, maximum: MAX_LIST_PAGE, default: 50 },
            },
          },
          response: {
            200: {
              description: 'A page of videos',
              type: 'object',
              required: ['videos', 'next'],
              additionalProperties: false,
              properties: { videos: { type: 'array', items: videoViewSchema }, next: { type: ['string', 'null'], description: 'The `after` of the next page; null on the last' } },
            },
            ...errorResponses({ 400: '`InvalidQuery`' }),
          },
        },
      },
      async (request) => {
        const { status, after, limit } = request.query;
        const page = await pipeline.list({ limit, ...(status !== undefined ? { status } : {}), ...(after !== undefined ? { after } : {}) }, (id) => loadVideo(id));
        return { videos: page.videos.map((v) => videoView(base, v.id, v.version, v.state)), next: page.next };
      },
    );

    app.get<{ Params: { id: string } }>(
      '/videos/:id',
      {
        schema: {
          summary: "A video's status, progress, renditions, thumbnail and error",
          params: videoParams,
          response: { 200: { description: 'The video, as its events say', ...videoViewSchema }, ...errorResponses({ 400: '`InvalidId`', 404: '`StreamNotFound`: no such video' }) },
        },
      },
      async (request, reply) => {
        const id = request.params.id;
        const v = await loadVideo(id, reply);
        return videoView(base, id, v.version, v.state);
      },
    );

    app.get<{ Params: { id: string }; Querystring: { from?: number; limit: number } }>(
      '/videos/:id/events',
      {
        schema: {
          summary: "A video's events in order",
          params: videoParams,
          querystring: {
            type: 'object',
            additionalProperties: false,
            properties: {
              from: { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER, description: 'The first seq to list (default: the first readable one, see retention)' },
              limit: { type: 'integer', minimum: 1, maximum: MAX_EVENTS_PAGE, default: 100 },
            },
          },
          response: {
            200: { description: 'The events', type: 'object', required: ['id', 'events'], additionalProperties: false, properties: { id: { type: 'string' }, events: { type: 'array', items: envelopeRef } } },
            ...errorResponses({ 400: '`InvalidId`, `InvalidQuery`', 404: '`StreamNotFound`: no such video', 410: '`Gone`: `from` is before the retention cut (`firstVersion`)' }),
          },
        },
      },
      async (request, reply) => {
        const id = request.params.id;
        const events = await runtime.history('video', id, request.query).then(
          (local) => local.map(envelopeJson),
          async (refusal: unknown) => {
            if (!routing) throw refusal;
            const f = await routing.history(refusal, 'video', id, request.query.from, request.query.limit);
            void reply.header(FORWARDED_TO_HEADER, f.owner);
            return f.body.events;
          },
        );
        return { id, events };
      },
    );

    app.get<{ Params: { id: string; height: number } }>(
      '/videos/:id/renditions/:height',
      {
        schema: {
          summary: 'A rendition (MP4), with conditional and Range requests',
          params: {
            type: 'object',
            required: ['id', 'height'],
            properties: { ...videoParams.properties, height: { type: 'integer', minimum: 1, maximum: 9999, description: 'The rendition\'s height in pixels (`240`)' } },
          },
          headers: fileHeaders,
          response: fileResponses('video/mp4', 'MP4 file'),
        },
      },
      async (request, reply) => {
        const { id, height } = request.params;
        const { state } = await loadVideo(id);
        const r = state.renditions.find((x) => x.height === height);
        if (!r) throw notFound(`video ${id} has no ${height}p rendition${state.renditions.length ? `; it has ${state.renditions.map((x) => x.height).join(', ')}` : ' yet'}`);
        return sendFile(request, reply, await pipeline.localFile(id, r.path), 'video/mp4');
      },
    );

    app.get<{ Params: { id: string } }>(
      '/videos/:id/thumbnail',
      { schema: { summary: "The video's thumbnail (JPEG), with conditional and Range requests", params: videoParams, headers: fileHeaders, response: fileResponses('image/jpeg', 'JPEG image') } },
      async (request, reply) => {
        const id = request.params.id;
        const { state } = await loadVideo(id);
        if (!state.thumbnail) throw notFound(`video ${id} has no thumbnail`);
        return sendFile(request, reply, await pipeline.localFile(id, state.thumbnail), 'image/jpeg');
      },
    );

    app.post<{ Params: { id: string }; Body: { reason?: string } | null }>(
      '/videos/:id/cancel',
      {
        schema: {
          summary: 'Stop processing a video (records `VideoCancelled`)',
          params: videoParams,
          body: {
            type: ['object', 'null'],
            description: 'No body, `{}`, or a reason',
            additionalProperties: false,
            properties: { reason: { type: 'string', maxLength: 500 } },
          },
          response: {
            200: { description: 'The video, cancelled', ...videoViewSchema },
            ...errorResponses({ 400: '`InvalidId`, `InvalidCommand`', 404: '`StreamNotFound`: no such video', 409: '`InvalidVideoStatus`: already final', 415: '`UnsupportedMediaType`' }),
          },
        },
      },
      async (request, reply) => {
        const id = request.params.id;
        const reason = request.body?.reason;
        const r = await pipeline.cancel(id, reason).catch(async (refusal: unknown) => {
          if (!routing) throw refusal;
          // The owner's reactor stops the encode when it sees `VideoCancelled` in its log.
          const f = await routing.command(refusal, 'video', id, { type: 'Cancel', data: reason !== undefined ? { reason } : {} }, {}).catch((err: unknown) => {
            throw RuntimeError.is(err, 'VideoNotUploaded') ? errors.streamNotFound('video', id) : err;
          });
          void reply.header(FORWARDED_TO_HEADER, f.owner);
          return { version: f.body.version, state: f.body.state as VideoState };
        });
        return videoView(base, id, r.version, r.state);
      },
    );
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

function declaredLength(request: FastifyRequest): number | undefined {
  const h = request.headers['content-length'];
  return h !== undefined && /^\d{1,16}$/.test(h) ? Number(h) : undefined;
}

function notFound(message: string): RuntimeError {
  return new RuntimeError(ErrorCodes.NotFound, message);
}
