/**
 * HTTP clients for the edge tests, over real sockets: `request` (node:http, so the Host header can be
 * anything, unlike fetch) and `raw` (node:net, for what no HTTP client will send: a broken request line,
 * oversized headers, a request that never ends).
 */
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { connect } from 'node:net';

export interface RawAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  json: () => Record<string, unknown>;
}

export function request(url: string, options: { method?: string; path: string; headers?: Record<string, string>; body?: string | Buffer; localAddress?: string }): Promise<RawAnswer> {
  const u = new URL(url);
  // An explicit length: Node's client frames no body of a DELETE by itself (the bytes would be read as
  // the next request).
  const headers = { ...(options.body !== undefined ? { 'content-length': String(Buffer.byteLength(options.body)) } : {}), ...options.headers };
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: u.hostname, port: u.port, method: options.method ?? 'GET', path: options.path, headers, agent: false, ...(options.localAddress ? { localAddress: options.localAddress } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: () => JSON.parse(text) as Record<string, unknown> });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/**
 * Writes `text` on a fresh connection and resolves with the first response once it is complete (by its
 * Content-Length, or when the server closes the connection), then drops the connection.
 */
export function raw(url: string, text: string | Buffer): Promise<RawAnswer> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: u.hostname, port: Number(u.port) });
    let received = Buffer.alloc(0);
    let done = false;
    const finish = (closed: boolean): void => {
      if (done) return;
      const all = received.toString('utf8');
      const split = all.indexOf('\r\n\r\n');
      const length = /\r\ncontent-length: *(\d+)/i.exec(all.slice(0, split))?.[1];
      if (!closed && (split === -1 || length === undefined || Buffer.byteLength(all.slice(split + 4)) < Number(length))) return;
      done = true;
      socket.destroy();
      try {
        resolve(parseResponse(all));
      } catch (err) {
        reject(err);
      }
    };
    socket.on('data', (c: Buffer) => {
      received = Buffer.concat([received, c]);
      finish(false);
    });
    socket.on('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNRESET' && received.length > 0 ? undefined : reject(err)));
    socket.on('close', () => finish(true));
    socket.write(text);
  });
}

export function parseResponse(all: string): RawAnswer {
  const split = all.indexOf('\r\n\r\n');
  if (split === -1) throw new Error(`no complete response: ${JSON.stringify(all.slice(0, 200))}`);
  const [statusLine, ...lines] = all.slice(0, split).split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? '')?.[1]);
  const headers: IncomingHttpHeaders = {};
  for (const line of lines) {
    const i = line.indexOf(':');
    headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  let body = all.slice(split + 4);
  if (headers['transfer-encoding'] === 'chunked') body = dechunk(body);
  return { status, headers, text: body, json: () => JSON.parse(body) as Record<string, unknown> };
}

function dechunk(s: string): string {
  let out = '';
  let rest = s;
  for (;;) {
    const nl = rest.indexOf('\r\n');
    const size = parseInt(rest.slice(0, nl), 16);
    if (!size) return out;
    out += rest.slice(nl + 2, nl + 2 + size);
    rest = rest.slice(nl + 2 + size + 2);
  }
}
