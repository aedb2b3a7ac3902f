/**
 * `eventide/client`: a typed client for an eventide server over HTTP and its WebSocket feed. Built on
 * `fetch` and the standard WebSocket API, with no dependencies and none of the server's code (it imports
 * the kernel's types only), so it runs in Node >= 20, browsers, Deno and Bun alike.
 *
 * ```ts
 * import { createClient, EventideClientError } from 'eventide/client';
 * const client = createClient({ baseUrl: 'http://127.0.0.1:3000' });
 * const { version, state, position } = await client.execute('account', 'acc-1', { type: 'Deposit', data: { amount: 500 } }, { commandId: 'dep-1' });
 * ```
 */
export { createClient, EventideClient, type AggregateClient, type ClientOptions, type CommandOptions, type DiffPoint, type HistoryOptions, type LoadOptions, type TimePoint } from './client.js';
export { CLIENT_ERROR_CODES, EventideClientError, type ClientErrorCode, type EventideErrorCode, type ServerErrorCode } from './errors.js';
export { FeedSubscription, type FeedBatch, type FeedOptions, type FeedSocket, type FeedStatus, type WebSocketConstructor } from './feed.js';
export type { ReconnectOptions } from './backoff.js';
export type { CallOptions, FetchFunction } from './http.js';
export type { DownloadOptions, UploadBody, UploadOptions } from './videos.js';
export type { ViewGetOptions, ViewListOptions } from './views.js';
export type * from './types.js';
export type { AdminApi, AuditOptions, RetentionOptions, SetRetentionOptions, StreamLifecycleOptions } from './admin.js';
export type { ViewsApi } from './views.js';
export type { VideosApi } from './videos.js';
