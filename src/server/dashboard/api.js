// The console's one way to call the server: fetch with the token, JSON in and out, errors as ApiError.
//
// Tokens: when the API answers 401, the page shows a token field and keeps what is pasted in
// sessionStorage (gone with the tab, never in a URL). It goes out as `Authorization: Bearer` on fetches
// and, since a browser cannot set headers on a WebSocket, as the subprotocol pair
// ['eventide.bearer', token] on the feed. Files (thumbnails, renditions) are plain URLs without a token;
// with one, they are fetched with the header and shown from a blob: URL.

const TOKEN_KEY = 'eventide.token';
export const FEED_AUTH_PROTOCOL = 'eventide.bearer';

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

const tokenListeners = new Set();

/** `fn()` runs after the token was set or forgotten. */
export function onTokenChange(fn) {
  tokenListeners.add(fn);
}

export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
  for (const fn of tokenListeners) fn();
}

let unauthorized = () => {};

/** `fn(error)` runs on every 401: the app shows the token form. */
export function onUnauthorized(fn) {
  unauthorized = fn;
}

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message ?? `HTTP ${status}`);
    this.status = status;
    this.code = body?.error ?? (status === 0 ? 'NetworkError' : `HTTP${status}`);
    this.body = body ?? {};
  }
}

/**
 * Calls the API. Resolves with the JSON body of a 2xx answer; throws an ApiError otherwise (status 0 when
 * the server did not answer). Mutating calls send `content-type: application/json`, as the server asks.
 */
export async function api(path, { method = 'GET', body } = {}) {
  const headers = {};
  const t = token();
  if (t) headers.authorization = `Bearer ${t}`;
  const init = { method, headers };
  if (method !== 'GET') {
    headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body ?? {});
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch {
    throw new ApiError(0, { message: 'the server did not answer' });
  }
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = { message: text.slice(0, 200) };
  }
  if (res.ok) return data;
  const err = new ApiError(res.status, data);
  // Only a refusal of the current token counts: an answer to a call made with a token since replaced
  // (the operator pasted a new one while it was in flight) must not stop the feed the new token started.
  if (res.status === 401 && token() === t) unauthorized(err);
  throw err;
}

/** What to tell the operator about a failed call, in one sentence. */
export function describeError(err, needs = 'read') {
  if (!(err instanceof ApiError)) return String(err?.message ?? err);
  if (err.status === 401) {
    return token() ? `Unauthorized: the server refused this token. Paste a token with the ${needs} scope.` : `Unauthorized: this needs a token with the ${needs} scope. Paste one above.`;
  }
  if (err.status === 403) {
    const scope = err.body.required ?? needs;
    return `Forbidden: ${err.message.replace(/\.$/, '')}. Paste a token with the ${scope} scope.`;
  }
  if (err.status === 0) return 'The server did not answer.';
  return `${err.code}: ${err.message}`;
}

/**
 * A URL for <img>/<video>: `path` itself without a token; with one, a blob: URL of the file fetched with
 * the header (revoke it with URL.revokeObjectURL when replaced).
 */
export async function mediaUrl(path) {
  const t = token();
  if (!t) return path;
  const res = await fetch(path, { headers: { authorization: `Bearer ${t}` } });
  if (!res.ok) throw new ApiError(res.status, await res.json().catch(() => null));
  return URL.createObjectURL(await res.blob());
}
