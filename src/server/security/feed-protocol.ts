/**
 * How a browser sends a token on the feed's WebSocket handshake, where it cannot set `Authorization`:
 * as a subprotocol pair, `new WebSocket(url, ['eventide.bearer', token])`, which the browser sends as
 * `Sec-WebSocket-Protocol: eventide.bearer, <token>`.
 *
 * Why not `?token=` in the URL: URLs are logged (fastify logs every request's url), kept in browser
 * history and proxies' logs. Headers are not logged here. Why not a cookie: a cookie is sent by any page
 * that opens a WebSocket to us (cross-site WebSocket hijacking); a subprotocol is only sent on purpose.
 *
 * Gotchas:
 * - The server must answer with one of the offered subprotocols or the browser fails the connection;
 *   it answers `eventide.bearer`, never the token (`selectFeedProtocol`).
 */
import type { IncomingHttpHeaders } from 'node:http';

export const FEED_AUTH_PROTOCOL = 'eventide.bearer';

/** For ws's `handleProtocols`: ours when offered, otherwise none (never echo a client's value). */
export function selectFeedProtocol(protocols: Set<string>): string | false {
  return protocols.has(FEED_AUTH_PROTOCOL) ? FEED_AUTH_PROTOCOL : false;
}

/** The bearer token of a request: the Authorization header, else (handshakes only) the subprotocol pair. */
export function bearerToken(headers: IncomingHttpHeaders): string | undefined {
  const auth = headers.authorization;
  if (auth !== undefined) {
    const m = /^Bearer +([^\s]+) *$/i.exec(auth);
    // A malformed Authorization header is a wrong token, not a missing one.
    return m ? m[1]! : '';
  }
  const protocol = headers['sec-websocket-protocol'];
  if (typeof protocol !== 'string' || headers.upgrade?.toLowerCase() !== 'websocket') return undefined;
  const offered = protocol.split(',').map((p) => p.trim());
  const i = offered.indexOf(FEED_AUTH_PROTOCOL);
  return i >= 0 ? (offered[i + 1] ?? '') : undefined;
}
