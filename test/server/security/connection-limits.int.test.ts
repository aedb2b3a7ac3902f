/**
 * Connection exhaustion over real sockets. On Linux all of 127/8 is loopback, so a client that binds
 * 127.0.0.2 is "another address" for the server.
 * - Idle sockets from one address beyond its cap are refused (429), and other addresses still get in,
 *   to HTTP and to the feed.
 * - Feed sockets have their own, smaller cap per address.
 * - A body is held to a minimum rate, not a fixed time: one well above the rate goes through over many
 *   windows, one below it is cut with 408 in the error shape (uploads and commands alike).
 */
import { readdirSync, existsSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEventide, type Eventide } from '../../../src/app/index.js';
import { buildServer } from '../../../src/server/index.js';
import { videoRoutes } from '../../../src/server/routes/videos.js';
import { createVideoPipeline, type VideoPipeline } from '../../../src/video/index.js';
import { harness, tempDir, type Harness } from '../helpers.js';
import { handshake, http } from './clients.js';

const ONE = '127.0.0.1';
const OTHER = '127.0.0.2';

/** An idle TCP connection from `localAddress`; `answer` collects whatever the server writes on it. */
function idleSocket(port: number, localAddress: string): Promise<{ socket: Socket; answer: () => string }> {
  return new Promise((resolve, reject) => {
    let data = '';
    const socket = connect({ port, host: ONE, localAddress });
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (data += d));
    socket.once('connect', () => resolve({ socket, answer: () => data }));
    socket.once('error', reject);
  });
}

/** Sends a GET on an already open socket and resolves with the status line's code. */
function getOn(socket: Socket, path: string): Promise<number> {
  return new Promise((resolve) => {
    let data = '';
    const onData = (d: string | Buffer): void => {
      data += String(d);
      const m = /^HTTP\/1\.1 (\d{3})/.exec(data);
      if (m && data.includes('\r\n\r\n')) {
        socket.off('data', onData);
        resolve(Number(m[1]));
      }
    };
    socket.on('data', onData);
    socket.write(`GET ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n`);
  });
}

describe('connections per address', () => {
  let h: Harness;
  let port: number;
  beforeAll(async () => {
    h = await harness({ security: { maxConnectionsPerAddress: 40, maxFeedPerAddress: 3 } });
    await h.listen();
    port = Number(new URL(h.url).port);
  });
  afterAll(() => h?.close());

  it('refuses idle sockets from one address beyond its cap while other addresses still get /health and the feed', async () => {
    const sockets = await Promise.all(Array.from({ length: 300 }, () => idleSocket(port, ONE)));
    try {
      // Every socket over the cap is answered 429 and closed; those under it stay open and are served.
      await expect.poll(() => sockets.filter((s) => s.socket.destroyed).length).toBe(260);
      for (const s of sockets.filter((x) => x.socket.destroyed)) {
        expect(s.answer()).toMatch(/^HTTP\/1\.1 429 Too Many Requests\r\n/);
        expect(s.answer()).toContain('retry-after: 5');
        expect(JSON.parse(s.answer().split('\r\n\r\n')[1]!)).toMatchObject({ error: 'RateLimited', retryAfter: 5, message: expect.stringContaining('too many connections from your address') });
      }
      const admitted = sockets.filter((s) => !s.socket.destroyed);
      expect(admitted).toHaveLength(40);
      expect(await Promise.all(admitted.map((s) => getOn(s.socket, '/health')))).toEqual(admitted.map(() => 200));

      // The address is full: a new connection from it is refused...
      expect((await http(`${h.url}/health`, { localAddress: ONE })).status).toBe(429);
      // ...and everyone else is served, HTTP and feed alike.
      expect((await http(`${h.url}/health`, { localAddress: OTHER })).status).toBe(200);
      const feed = await handshake(`${h.url.replace(/^http/, 'ws')}/feed`, [], { localAddress: OTHER });
      expect(feed).toMatchObject({ ok: true, first: { kind: 'hello' } });
      if (feed.ok) feed.socket.close();
    } finally {
      for (const s of sockets) s.socket.destroy();
    }
    // Slots come back as sockets close.
    await expect.poll(async () => (await http(`${h.url}/health`, { localAddress: ONE })).status).toBe(200);
  });

  it('caps feed sockets per address, and others still connect', async () => {
    const ws = `${h.url.replace(/^http/, 'ws')}/feed`;
    const open = [];
    for (let i = 0; i < 3; i++) open.push(await handshake(ws, [], { localAddress: ONE }));
    expect(open.every((o) => o.ok)).toBe(true);
    const refused = await handshake(ws, [], { localAddress: ONE });
    expect(refused).toMatchObject({ ok: false, status: 429, body: { error: 'RateLimited', retryAfter: 5, message: expect.stringContaining('too many feed connections') } });
    const other = await handshake(ws, [], { localAddress: OTHER });
    expect(other.ok).toBe(true);
    for (const o of [...open, other]) if (o.ok) o.socket.close();
    await expect.poll(async () => (await handshake(ws, [], { localAddress: ONE })).ok).toBe(true);
  });
});

describe('a minimum body rate instead of a fixed time', () => {
  const tmp = tempDir('eventide-body-rate-');
  let eventide: Eventide;
  let pipeline: VideoPipeline;
  let app: Awaited<ReturnType<typeof buildServer>>;
  let port: number;
  // 1 KiB/s over 2 s windows; the slow-but-fine client sends 160 KiB/s, 160 times the minimum.
  const WINDOW_MS = 2000;

  beforeAll(async () => {
    eventide = await createEventide({ dataDir: tmp.dir, partitions: 4, workers: 1 });
    const { runtime, views } = eventide;
    pipeline = await createVideoPipeline({ runtime, maxJobs: 1 });
    app = await buildServer({ runtime, views, plugins: [videoRoutes({ runtime, pipeline })], dashboard: false, defaultMetrics: false, security: { minBodyBytesPerSecond: 1024, bodyRateWindowMs: WINDOW_MS } });
    await app.listen({ port: 0, host: ONE });
    port = (app.server.address() as { port: number }).port;
  });
  afterAll(async () => {
    await app?.close();
    await pipeline?.close();
    await eventide?.close();
    tmp.remove();
  });

  /** Sends `total` bytes as `chunk`-byte writes every `everyMs`, then reads the whole answer. */
  function upload(path: string, contentType: string, total: number, chunk: number, everyMs: number, stopAfter = total): Promise<{ status: number; body: Record<string, unknown>; closedByServer: boolean }> {
    return new Promise((resolve, reject) => {
      const socket = connect({ port, host: ONE });
      let data = '';
      let sent = 0;
      let timer: NodeJS.Timeout | undefined;
      socket.setEncoding('utf8');
      socket.on('data', (d: string) => (data += d));
      socket.once('error', () => undefined);
      socket.once('close', () => {
        clearInterval(timer);
        const m = /^HTTP\/1\.1 (\d{3})/.exec(data);
        if (!m) return reject(new Error(`no answer: ${JSON.stringify(data)}`));
        resolve({ status: Number(m[1]), body: JSON.parse(data.split('\r\n\r\n')[1] ?? '{}') as Record<string, unknown>, closedByServer: sent < total });
      });
      socket.once('connect', () => {
        socket.write(`POST ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: ${contentType}\r\ncontent-length: ${total}\r\nconnection: close\r\n\r\n`);
        timer = setInterval(() => {
          if (sent >= stopAfter) return clearInterval(timer);
          const n = Math.min(chunk, total - sent);
          socket.write(Buffer.alloc(n, 7));
          sent += n;
        }, everyMs);
      });
    });
  }

  it('lets an upload well above the rate run for several windows, and stores it', async () => {
    const total = 16 * 1024 * 60; // 60 writes of 16 KiB every 100 ms: about 6 s, three windows
    const r = await upload('/videos', 'application/octet-stream', total, 16 * 1024, 100);
    expect(r.status).toBe(202);
    expect(r.body).toMatchObject({ status: 'UPLOADED', bytes: total });
  });

  it('cuts an upload below the rate with 408 RequestTimeout, and keeps nothing of it', async () => {
    const before = existsSync(join(tmp.dir, 'videos')) ? readdirSync(join(tmp.dir, 'videos')).length : 0;
    const r = await upload('/videos', 'application/octet-stream', 10 * 1024 * 1024, 100, 100, 200); // 200 bytes, then silence
    expect(r.status).toBe(408);
    expect(r.closedByServer).toBe(true);
    expect(r.body).toMatchObject({ error: 'RequestTimeout', message: expect.stringContaining('minimum is 1024 bytes/s'), minBodyBytesPerSecond: 1024 });
    await expect.poll(() => readdirSync(join(tmp.dir, 'videos')).length).toBe(before);
  });

  it('holds a command body to the same rate', async () => {
    const r = await upload('/aggregates/account/acc-slow/commands', 'application/json', 200, 10, 100, 10);
    expect(r).toMatchObject({ status: 408, body: { error: 'RequestTimeout' } });
    await expect(eventide.runtime.load('account', 'acc-slow')).rejects.toMatchObject({ code: 'StreamNotFound' });
  });
});

describe('the body rate never blames the client for the server not reading', () => {
  let h: Harness;
  let port: number;
  let release: () => void = () => undefined;
  const WINDOW_MS = 200;

  beforeAll(async () => {
    const gate = new Promise<void>((resolve) => (release = resolve));
    // A route that holds the body unread until the test opens the gate: the client has sent it all.
    const holdingRoute = async (app: import('fastify').FastifyInstance): Promise<void> => {
      app.addContentTypeParser('application/octet-stream', (_req, payload, done) => done(null, payload));
      // It takes its own media type, so the server's JSON-only rule leaves it to the route (json-body.ts).
      app.post('/hold', { config: { ownMediaTypes: true } }, async (request) => {
        await gate;
        let bytes = 0;
        for await (const chunk of request.body as AsyncIterable<Buffer>) bytes += chunk.length;
        return { bytes };
      });
    };
    h = await harness({ plugins: [holdingRoute], security: { minBodyBytesPerSecond: 1024, bodyRateWindowMs: WINDOW_MS } });
    await h.listen();
    port = Number(new URL(h.url).port);
  });
  afterAll(() => h?.close());

  it('skips windows while the handler holds unread body data, then completes', async () => {
    const total = 4 * 1024 * 1024;
    const answer = http(`http://${ONE}:${port}/hold`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: Buffer.alloc(total, 1) });
    // Several windows with nothing read by the server: each sweep sees unread data and skips.
    await new Promise((resolve) => setTimeout(resolve, WINDOW_MS * 5));
    release();
    const r = await answer;
    expect(r.status).toBe(200);
    expect(r.json()).toEqual({ bytes: total });
  });
});
