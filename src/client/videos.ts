/**
 * `client.videos`: upload a file, follow its status, list videos, cancel, and reach the renditions.
 *
 * Gotchas:
 * - An upload has no deadline unless the call gives one (`timeoutMs`): a large file takes as long as it
 *   takes; the server cuts only a body that arrives slower than its minimum rate.
 * - Rendition and thumbnail URLs need the token too when the server has tokens: a browser's `<video src>`
 *   cannot send one, so `download()` (which sends it) is the way to fetch them then.
 */
import { EventideClientError } from './errors.js';
import { segment as seg, type CallOptions, type Transport } from './http.js';
import type { UploadResult, VideoHistory, VideoPage, VideoStatus, VideoView } from './types.js';

/** What `upload` sends: anything `fetch` takes as a body (a Blob, bytes, a web ReadableStream, Node's file stream). */
export type UploadBody = NonNullable<RequestInit['body']>;

export interface UploadOptions extends CallOptions {
  /** `application/octet-stream` (the default) or a `video/*` type. */
  contentType?: string | undefined;
}

export interface DownloadOptions extends CallOptions {
  /** A `Range` header value (`bytes=0-1023`): the answer is then 206 with that part. */
  range?: string | undefined;
}

export class VideosApi {
  readonly #http: Transport;

  constructor(http: Transport) {
    this.#http = http;
  }

  /** Uploads a video (202): it is encoded in the background; follow it with `get` or the feed (`type: 'video', stream: id`). */
  upload(body: UploadBody, options: UploadOptions = {}): Promise<UploadResult> {
    const { contentType, ...call } = options;
    return this.#http.json({ method: 'POST', path: '/videos', body, contentType: contentType ?? 'application/octet-stream', noDefaultTimeout: true, ...call });
  }

  /** The video's status, progress, renditions (`url` paths) and thumbnail. */
  get(id: string, options: CallOptions = {}): Promise<VideoView> {
    return this.#http.json({ method: 'GET', path: `/videos/${seg(id)}`, ...options });
  }

  list(options: CallOptions & { status?: VideoStatus; after?: string; limit?: number } = {}): Promise<VideoPage> {
    const { status, after, limit, ...call } = options;
    return this.#http.json({ method: 'GET', path: '/videos', query: { status, after, limit }, ...call });
  }

  /** The video's events (its lifecycle), a page at a time. */
  events(id: string, options: CallOptions & { from?: number; limit?: number } = {}): Promise<VideoHistory> {
    const { from, limit, ...call } = options;
    return this.#http.json({ method: 'GET', path: `/videos/${seg(id)}/events`, query: { from, limit }, ...call });
  }

  /** Stops processing (records `VideoCancelled`); 409 when the video is already final. */
  cancel(id: string, options: CallOptions & { reason?: string } = {}): Promise<VideoView> {
    const { reason, ...call } = options;
    return this.#http.json({ method: 'POST', path: `/videos/${seg(id)}/cancel`, json: reason !== undefined ? { reason } : undefined, ...call });
  }

  /** The absolute URL of a rendition (`height`: 240, 360, 720), an MP4. */
  renditionUrl(id: string, height: number): string {
    return this.#http.url(`/videos/${seg(id)}/renditions/${height}`);
  }

  /** The absolute URL of the thumbnail, a JPEG. */
  thumbnailUrl(id: string): string {
    return this.#http.url(`/videos/${seg(id)}/thumbnail`);
  }

  /**
   * Fetches a file of the server (a rendition or thumbnail URL or path, as `get` lists them), with the
   * token: the `Response` once its headers are in, to read or stream (`res.body`). Non-2xx is thrown.
   */
  download(urlOrPath: string, options: DownloadOptions = {}): Promise<Response> {
    const { range, ...call } = options;
    const base = this.#http.baseUrl;
    const path = urlOrPath.startsWith(`${base}/`) ? urlOrPath.slice(base.length) : urlOrPath;
    // The token goes to this server only: never to a URL of another origin.
    if (!path.startsWith('/')) throw new EventideClientError({ code: 'InvalidOptions', status: 0, message: `download takes a path of this server or a URL under ${base}, got ${JSON.stringify(urlOrPath.slice(0, 200))}` });
    return this.#http.response({ method: 'GET', path, headers: { accept: '*/*', ...(range !== undefined ? { range } : {}) }, ...call });
  }
}
