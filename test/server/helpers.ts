/** Helpers for the server suites: a runtime and its views in a temp dir, a server around them, small HTTP/WS clients. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { createEventide, type EventideOptions } from '../../src/app/index.js';
import type { Views } from '../../src/projections/index.js';
import type { Runtime } from '../../src/runtime/index.js';
import { buildServer, type ServerOptions } from '../../src/server/index.js';

export function tempDir(prefix = 'eventide-server-'): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface Harness {
  runtime: Runtime;
  views: Views;
  app: FastifyInstance;
  dir: string;
  /** http://127.0.0.1:port once `listen()` was called. */
  url: string;
  listen(): Promise<string>;
  close(): Promise<void>;
}

/** A runtime with its views (4 partitions, 1 worker unless told: `createEventide`) and a server around them, not listening yet. */
export async function harness(server: Partial<Omit<ServerOptions, 'runtime'>> = {}, runtimeOptions: Partial<EventideOptions> = {}): Promise<Harness> {
  const tmp = tempDir();
  const eventide = await createEventide({ dataDir: tmp.dir, partitions: 4, workers: 1, ...runtimeOptions });
  const { runtime, views } = eventide;
  const app = await buildServer({ runtime, views, defaultMetrics: false, ...server });
  const h: Harness = {
    runtime,
    views,
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
      await eventide.close();
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
