/**
 * `sendFile(request, reply, path, type)`: one server-chosen file as an HTTP answer, with validators and
 * conditional and range requests (RFC 9110), served by `@fastify/send`:
 * - `ETag` (strong: size and mtime in ms) and `Last-Modified` on every answer;
 * - `If-None-Match` / `If-Modified-Since` -> 304; `If-Match` / `If-Unmodified-Since` that fail -> 412
 *   `PreconditionFailed`;
 * - one `Range` -> 206 with `Content-Range`; a range starting past the end -> 416 `RangeNotSatisfiable`
 *   (with `Content-Range: bytes *\/<size>`); a malformed or multi-range header is ignored (200, the whole
 *   file), as the RFC allows;
 * - `If-Range`: the Range is used only while the validator the client names is this file's current one
 *   (its ETag, compared strongly, or exactly its Last-Modified date); otherwise the whole file (200), so
 *   a client resuming a download of a file that changed never splices two files together.
 * Files are written once and renamed into place, so size + mtime is a strong validator.
 *
 * send does the serving; three of its rules depart from RFC 9110, so the request it sees is rewritten
 * first (`conditionRange`, in send's `onFile`, once the file's size and times are known):
 * - it honours an If-Range date that is later than Last-Modified, and a weak ETag (RFC: exact date,
 *   strong comparison only): If-Range is decided here and removed;
 * - it answers 416 to a suffix range longer than the file (`bytes=-5000` on 1 000 bytes; RFC: the whole
 *   file, 206) and to a malformed range (`bytes=5-3`; RFC: ignore it): send gets the one range this
 *   module's `parseRange` read, in a form it handles as the RFC says, or no Range at all;
 * - its ETag is marked weak (`W/`): the answer carries it strong, as send's own comparisons (weak for
 *   If-None-Match) accept either form.
 *
 * Gotchas:
 * - Nothing from the request reaches the file system: `path` is the server's, and send is given its
 *   directory as `root` and its name percent-encoded (send decodes what it is given).
 * - The type is fixed by the caller and `X-Content-Type-Options: nosniff` is always set (send's own type
 *   guessing is off). Answers are `Cache-Control: private, no-cache`: a shared cache must not keep a file
 *   that may need a token, and a browser revalidates (a 304 is cheap).
 * - send's error answers are HTML: they are turned into the JSON error shape here.
 */
import type { Stats } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { Readable } from 'node:stream';
import send from '@fastify/send';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ErrorCodes, RuntimeError } from '../kernel/index.js';
import { NOSNIFF } from './error-handlers.js';

const CACHE_CONTROL = 'private, no-cache';
/** What `fs.createReadStream` reads at a time by default. */
const READ_CHUNK_BYTES = 64 * 1024;

/** What send reads of a request. */
interface SendRequest {
  method: string;
  headers: Record<string, string | string[] | undefined>;
}

export async function sendFile(request: FastifyRequest, reply: FastifyReply, path: string, type: string): Promise<FastifyReply> {
  const headers: SendRequest['headers'] = { ...request.headers };
  let size = 0;
  const result = await send({ method: request.method, headers } satisfies SendRequest as unknown as Readable, `/${encodeURIComponent(basename(path))}`, {
    root: dirname(path),
    dotfiles: 'allow',
    index: false,
    extensions: false,
    contentType: false,
    cacheControl: false,
    // send passes its option on as it is, and `highWaterMark: null` gives Node 20's 16 KiB default for
    // streams, not the 64 KiB of a plain file stream: 4 times the reads per file (bench/README.md).
    highWaterMark: READ_CHUNK_BYTES,
    onFile: (_path, stat) => {
      size = stat.size;
      conditionRange(headers, stat);
    },
  });
  if (result.type !== 'file') {
    result.stream.destroy();
    if (result.statusCode === 416) {
      const range = String(request.headers.range).slice(0, 60);
      throw new RuntimeError(ErrorCodes.RangeNotSatisfiable, `range ${JSON.stringify(range)} starts past the end of the ${size}-byte file`, { size });
    }
    if (result.statusCode === 412) throw new RuntimeError(ErrorCodes.PreconditionFailed, 'If-Match / If-Unmodified-Since do not hold: the file is not the one named');
    if (result.statusCode === 404 || result.type === 'directory') throw new RuntimeError(ErrorCodes.NotFound, 'the file is missing from the video store');
    throw new RuntimeError(ErrorCodes.Internal, `the file could not be read (${result.statusCode})`);
  }
  const etag = result.headers.ETag;
  void reply.code(result.statusCode).headers(result.headers).header('cache-control', CACHE_CONTROL).header('x-content-type-options', NOSNIFF);
  if (etag?.startsWith('W/')) void reply.header('etag', etag.slice(2));
  if (result.statusCode === 304) {
    result.stream.destroy();
    return reply.send();
  }
  return reply.type(type).send(result.stream);
}

/** This file's strong ETag: what send makes, without its `W/`. */
export function strongEtag(stat: Pick<Stats, 'size' | 'mtime'>): string {
  return `"${stat.size.toString(16)}-${stat.mtime.getTime().toString(16)}"`;
}

/**
 * Decides If-Range and reads Range as RFC 9110 does, and leaves send a request it serves that way: no
 * If-Range, and either no Range, or one range in a form send reads as meant (see the header).
 */
export function conditionRange(headers: SendRequest['headers'], stat: Pick<Stats, 'size' | 'mtime'>): void {
  const ifRange = headers['if-range'];
  delete headers['if-range'];
  const rangeHeader = headers.range;
  // Several If-Range headers cannot match one validator: the whole file, as for a mismatch.
  const lastModified = new Date(stat.mtime.toUTCString());
  const range = ifRangeMatches(Array.isArray(ifRange) ? ifRange.join(', ') : ifRange, strongEtag(stat), lastModified)
    ? parseRange(Array.isArray(rangeHeader) ? undefined : rangeHeader, stat.size)
    : null;
  if (range === null) delete headers.range;
  // send answers 416 to a first position past the last byte; `bytes=<size>-` is that on every file.
  else if (range === 'unsatisfiable') headers.range = `bytes=${stat.size}-`;
  else headers.range = `bytes=${range.start}-${range.end}`;
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

/**
 * One byte range (RFC 9110 14.1.2): `bytes=a-b`, `bytes=a-`, `bytes=-n` (the last n bytes, or the whole
 * file when it is shorter). `unsatisfiable`: the range starts past the end (or asks for the last 0 bytes).
 * null: no Range, or one to ignore (malformed, several ranges, another unit).
 */
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
