/** Helpers for the server suites: a runtime in a temp dir, a server around it, small HTTP/WS clients. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { WebSocket } from 'ws';
import { createRuntime, type Runtime, type RuntimeOptions } from '../../src/runtime/index.js';
import { buildServer, type ServerOptions } from '../../src/server/index.js';

export function tempDir(prefix = 'eventide-server-'): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface Harness {
  runtime: Runtime;
  app: FastifyInstance;
  dir: string;
  /** http://127.0.0.1:port once `listen()` was called. */
  url: string;
  listen(): Promise<string>;
  close(): Promise<void>;
}

/** A runtime (4 partitions, 1 worker unless told) and a server around it, not listening yet. */
export async function harness(server: Partial<Omit<ServerOptions, 'runtime'>> = {}, runtimeOptions: Partial<RuntimeOptions> = {}): Promise<Harness> {
  const tmp = tempDir();
  const runtime = await createRuntime({ dataDir: tmp.dir, partitions: 4, workers: 1, ...runtimeOptions });
  const app = await buildServer({ runtime, defaultMetrics: false, ...server });
  const h: Harness = {
    runtime,
    app,
    dir: tmp.dir,
    url: '',
    async listen() {
      await app.listen({ port: 0, host: '127.0.0.1' });
      const a = app.server.address();
      if (typeof a !== 'object' || a === null) throw new Error('no address');
      h.url = `http://127.0.0.1:${a.port}`;
      return h.url;
    },
    async close() {
      await app.close();
      await runtime.close();
      tmp.remove();
    },
  };
  return h;
}

/** POST a command through the real HTTP stack (inject). */
export async function command(app: FastifyInstance, type: string, id: string, body: unknown) {
  const res = await app.inject({ method: 'POST', url: `/aggregates/${type}/${encodeURIComponent(id)}/commands`, payload: body as object });
  return { status: res.statusCode, body: res.json() as Record<string, unknown>, headers: res.headers };
}

export interface FeedMessage {
  kind: 'hello' | 'event';
  position: string;
  aggregateType?: string;
  stream?: string;
  type?: string;
  seq?: number;
  partition?: number;
  offset?: number;
  data?: unknown;
  ts?: string;
  partitions?: number;
}

/** A feed client that records every message and its close code. */
export class FeedRecorder {
  readonly messages: FeedMessage[] = [];
  readonly socket: WebSocket;
  readonly opened: Promise<void>;
  readonly closed: Promise<{ code: number; reason: string }>;
  #waiters: Array<{ test: () => boolean; resolve: () => void }> = [];

  constructor(url: string, options: { origin?: string } = {}) {
    this.socket = new WebSocket(url, options.origin ? { origin: options.origin } : {});
    this.opened = new Promise((resolve, reject) => {
      this.socket.once('open', () => resolve());
      this.socket.once('error', reject);
    });
    this.opened.catch(() => undefined); // tests that expect a refusal await it themselves
    this.closed = new Promise((resolve) => this.socket.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    this.socket.on('message', (data) => {
      this.messages.push(JSON.parse(data.toString()) as FeedMessage);
      this.#check();
    });
  }

  get events(): FeedMessage[] {
    return this.messages.filter((m) => m.kind === 'event');
  }

  /** Position carried by the last message received ('' before the first one). */
  get position(): string {
    return this.messages[this.messages.length - 1]?.position ?? '';
  }

  /** Resolves once `test()` holds (checked after every message). */
  until(test: () => boolean): Promise<void> {
    if (test()) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ test, resolve }));
  }

  #check(): void {
    this.#waiters = this.#waiters.filter((w) => (w.test() ? (w.resolve(), false) : true));
  }

  close(): void {
    this.socket.close();
  }
}

/** Every (partition, offset) of the log, in offset order per partition. */
export function logOffsets(runtime: Runtime): Map<number, number> {
  return new Map(runtime.partitions().map((p) => [p.partition, p.offset]));
}

/** Checks a list of feed events is exactly offsets [from[p], head[p]) of every partition, in order. */
export function assertExactlyOnce(events: FeedMessage[], from: readonly number[], heads: readonly number[]): void {
  const next = [...from];
  for (const e of events) {
    const p = e.partition!;
    if (e.offset !== next[p]) throw new Error(`partition ${p}: expected offset ${next[p]}, got ${e.offset} (${e.offset! < next[p]! ? 'duplicate' : 'gap'})`);
    next[p] = e.offset! + 1;
  }
  heads.forEach((h, p) => {
    if (next[p] !== h) throw new Error(`partition ${p}: stopped at ${next[p]}, head is ${h}`);
  });
}
