/**
 * Allowed hosts: the defence against DNS rebinding. A web page on `evil.example` can make its own name
 * resolve to 127.0.0.1 and then talk to this server from the victim's browser as a *same-origin* page
 * (so CORS and the feed's Origin check do not help). What it cannot change is the Host header: the
 * browser sends `evil.example`. So every request (and the feed's handshake) must name a host this server
 * answers for.
 *
 * Allowed by default: `localhost`, `127.0.0.1`, `[::1]`, and the address the request arrived at (the bind
 * address; with `0.0.0.0` the interface the client used, e.g. `192.168.1.5`): a client that types an IP
 * literal is not being rebound. More names come from `allowedHosts` (`ALLOWED_HOSTS`), or `'*'` turns
 * the check off (behind a proxy that checks Host itself).
 *
 * The port is not compared: rebinding is about the name, and behind a port mapping (`docker -p 8080:3000`)
 * the port a client sends is not the one the server bound.
 *
 * Gotchas:
 * - The raw `Host` header is used, never `X-Forwarded-Host`: a client can send the latter with any value.
 * - An HTTP/1.1 request without Host is malformed (400 `BadRequest`); Node's own check is turned off
 *   (`requireHostHeader: false`) only so that this answer has our JSON shape. HTTP/1.0 may omit Host
 *   (no browser sends HTTP/1.0), and is allowed.
 */
import type { IncomingMessage } from 'node:http';
import { ErrorCodes, RuntimeError } from '../kernel/index.js';

/** `'*'`: every host; otherwise extra host names (or bracketed IPv6 literals) besides the defaults. */
export type AllowedHostsOption = '*' | readonly string[];

export type ResolvedAllowedHosts = '*' | ReadonlySet<string>;

export const DEFAULT_ALLOWED_HOSTS: readonly string[] = ['localhost', '127.0.0.1', '[::1]'];

const HOST_NAME = /^(?:\[[0-9a-f:.]{2,45}\]|[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?)$/;

/** Validates and fills the option once (an invalid entry is an `InvalidOptions` error at start-up). */
export function resolveAllowedHosts(option: AllowedHostsOption | undefined): ResolvedAllowedHosts {
  if (option === '*') return '*';
  const out = new Set(DEFAULT_ALLOWED_HOSTS);
  for (const raw of option ?? []) {
    const host = String(raw).trim().toLowerCase();
    if (!HOST_NAME.test(host)) {
      throw new RuntimeError(ErrorCodes.InvalidOptions, `allowedHosts: ${JSON.stringify(String(raw).slice(0, 100))} is not a host name (no scheme, no port; IPv6 in brackets), or '*'`);
    }
    out.add(host);
  }
  return out;
}

/** `ALLOWED_HOSTS=a.example,b.example` or `*`; empty or unset: the defaults only. */
export function allowedHostsFromEnv(raw: string | undefined): AllowedHostsOption | undefined {
  const v = raw?.trim();
  if (!v) return undefined;
  if (v === '*') return '*';
  return v.split(',').map((h) => h.trim()).filter(Boolean);
}

/** The host name of a Host header, lower-cased, without the port (`[::1]:3000` -> `[::1]`). */
export function hostNameOf(header: string): string {
  const h = header.trim().toLowerCase();
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    return end === -1 ? h : h.slice(0, end + 1);
  }
  const colon = h.indexOf(':');
  return colon === -1 ? h : h.slice(0, colon);
}

/** The address the connection reached, as a Host header would name it (`::ffff:10.0.0.5` -> `10.0.0.5`). */
function localHostName(req: IncomingMessage): string | undefined {
  const a = req.socket?.localAddress;
  if (!a) return undefined;
  if (a.startsWith('::ffff:') && a.includes('.')) return a.slice(7);
  return a.includes(':') ? `[${a.toLowerCase()}]` : a;
}

/** Throws the error to answer with, or returns when the request's Host is allowed. */
export function checkHost(req: IncomingMessage, allowed: ResolvedAllowedHosts): void {
  if (allowed === '*') return;
  const header = req.headers.host;
  if (header === undefined || header === '') {
    if (req.httpVersion === '1.0') return;
    throw new RuntimeError(ErrorCodes.BadRequest, 'an HTTP/1.1 request must carry a Host header');
  }
  const name = hostNameOf(header);
  if (allowed.has(name) || name === localHostName(req)) return;
  throw new RuntimeError(
    ErrorCodes.HostNotAllowed,
    `this server does not answer for host ${JSON.stringify(name.slice(0, 100))}; use localhost or the server's address, or add the name to ALLOWED_HOSTS`,
    { host: name.slice(0, 100) },
  );
}
