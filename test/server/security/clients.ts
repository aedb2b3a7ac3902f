/** Small real-socket clients for the security suites: HTTP from a chosen local address, and WebSocket handshakes. */
import { request, type RawAnswer } from '../../support/raw-http.js';
import { networkInterfaces } from 'node:os';
import { WebSocket, type ClientOptions } from 'ws';

export type HttpAnswer = RawAnswer;

/** One request on a fresh connection (no keep-alive), optionally from `localAddress` (e.g. 127.0.0.2). */
export function http(url: string, o: { method?: string; headers?: Record<string, string>; body?: string | Buffer; localAddress?: string } = {}): Promise<HttpAnswer> {
  const u = new URL(url);
  return request(u.origin, {
    path: u.pathname + u.search,
    headers: { connection: 'close', ...o.headers },
    ...(o.method ? { method: o.method } : {}),
    ...(o.body !== undefined ? { body: o.body } : {}),
    ...(o.localAddress ? { localAddress: o.localAddress } : {}),
  });
}

export type Handshake = { ok: true; socket: WebSocket; first: Record<string, unknown> } | { ok: false; status: number; body: Record<string, unknown> };

/** Opens a WebSocket; resolves with its first message, or with the HTTP refusal before the upgrade. */
export function handshake(url: string, protocols: string[] = [], options: ClientOptions = {}): Promise<Handshake> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, protocols, options);
    socket.once('message', (data) => resolve({ ok: true, socket, first: JSON.parse(String(data)) as Record<string, unknown> }));
    socket.once('unexpected-response', (req, res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      // With this listener ws leaves the connection open: close it, or the server's close waits for it.
      res.on('end', () => (req.destroy(), resolve({ ok: false, status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, unknown> })));
    });
    socket.once('error', (err) => reject(err));
  });
}

/** A non-loopback IPv4 address of this machine, to be a client that is not on loopback. */
export function externalIPv4(): string {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  throw new Error('this machine has no non-loopback IPv4 address: the protected-mode test needs one');
}
