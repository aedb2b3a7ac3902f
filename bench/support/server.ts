/**
 * Finds the HTTP server (`src/server/app.ts`, `buildServer`) if it exists yet, so the HTTP, restart
 * (/health), feed and upload figures can use it, and say "not available" when it does not.
 *
 * The import path is computed so the type checker does not require the module to exist; the call
 * passes the runtime it was given and turns off request logging (pino would measure the disk).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Runtime } from '../../src/runtime/index.js';

const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';

export interface RunningServer {
  url: string;
  close(): Promise<void>;
}

export type ServerFactory = (runtime: Runtime) => Promise<RunningServer>;

interface FastifyLike {
  listen(o: { port: number; host: string }): Promise<string>;
  close(): Promise<unknown>;
}

export function srcModule(relative: string): URL {
  return new URL(`../../src/${relative}${ext}`, import.meta.url);
}

export function srcExists(relative: string): boolean {
  return existsSync(fileURLToPath(srcModule(relative)));
}

export async function findServer(): Promise<ServerFactory | null> {
  if (!srcExists('server/app')) return null;
  const mod = (await import(srcModule('server/app').href)) as { buildServer?: (o: Record<string, unknown>) => unknown };
  const build = mod.buildServer;
  if (typeof build !== 'function') return null;
  return async (runtime) => {
    const app = (await build({ runtime, logger: false })) as FastifyLike;
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    return { url, close: async () => void (await app.close()) };
  };
}

export const NO_SERVER = 'not available: src/server/app.ts (buildServer) does not exist yet';
