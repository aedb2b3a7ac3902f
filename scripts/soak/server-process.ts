/**
 * The soak's server under test: `node --import tsx src/server/main.ts` as a child process (the same entry
 * `npm start` runs, without a build), on a given data dir and a free port. The soak kills it with SIGKILL
 * and starts it again on the same dir, so this module only knows how to start one, learn its URL, wait
 * until it is ready, and kill it.
 *
 * Gotchas:
 * - The URL comes from the "eventide starting" line, an `info` line (so LOG_LEVEL stays info: the
 *   per-request lines come too, and only the tail is kept); readiness is `GET /health` answering 200, since the server listens
 *   (and answers 503 "starting") while it replays the log.
 * - A child that exits before it is ready is a refused start; its stderr tail says why (a data-dir lock
 *   still held by the killed process is the case the soak counts separately).
 * - Only the tail of the child's output is kept: a long soak must not grow without bound.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const projectRoot = fileURLToPath(new URL('../../', import.meta.url));
const OUTPUT_TAIL_CHARS = 16_384;

export interface ServerSettings {
  dataDir: string;
  /** Partition count for a new data dir (undefined: the server's default). */
  partitions?: number | undefined;
  /** Actor worker threads (undefined: the server's default). */
  workers?: number | undefined;
  /** How long a start may take before it counts as failed. */
  readyTimeoutMs: number;
}

export interface RunningServer {
  readonly pid: number;
  readonly url: string;
  /** Resolves with the exit code or signal name once the process is gone (reaped). */
  readonly exited: Promise<string>;
  /** True once the process is gone. */
  hasExited(): boolean;
  /** The last few KiB of the child's stderr and stdout. */
  outputTail(): string;
  /** Sends SIGKILL and returns at once (the process may not be gone yet: see `exited`). */
  kill9(): void;
  /** SIGTERM (a clean stop), then SIGKILL if it is not gone within `graceMs`; resolves with the exit. */
  stop(graceMs: number): Promise<string>;
}

/** A start that failed: the child exited (or hung) before `/health` said 200. */
export class StartFailed extends Error {
  constructor(
    message: string,
    readonly output: string,
    /** The failure looks like the data-dir lock refusing us (the previous server still holds it). */
    readonly lockRefused: boolean,
  ) {
    super(message);
    this.name = 'StartFailed';
  }
}

const LOCK_REFUSAL = /DataDirLocked|owner\.lock|in use by process|could not lock|lock(ed)? .*data dir|data dir .*lock/i;

/** Spawns the server and resolves once `/health` answers 200; throws `StartFailed` otherwise. */
export async function startServer(settings: ServerSettings): Promise<RunningServer> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATA_DIR: settings.dataDir,
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'info',
  };
  if (settings.partitions !== undefined) env.PARTITIONS = String(settings.partitions);
  if (settings.workers !== undefined) env.WORKERS = String(settings.workers);
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'src/server/main.ts'], {
    cwd: projectRoot,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let tail = '';
  const keep = (d: Buffer | string): void => {
    tail = (tail + d.toString()).slice(-OUTPUT_TAIL_CHARS);
  };
  child.stderr!.on('data', keep);
  let gone = false;
  const exited = new Promise<string>((resolve) => {
    child.once('exit', (code, signal) => {
      gone = true;
      resolve(signal ?? String(code));
    });
  });
  const server: RunningServer = {
    pid: child.pid ?? -1,
    url: '',
    exited,
    hasExited: () => gone,
    outputTail: () => tail,
    kill9: () => {
      if (!gone) child.kill('SIGKILL');
    },
    stop: async (graceMs) => {
      if (!gone) child.kill('SIGTERM');
      const timer = setTimeout(() => server.kill9(), graceMs);
      const how = await exited;
      clearTimeout(timer);
      return how;
    },
  };

  const deadline = Date.now() + settings.readyTimeoutMs;
  const fail = async (why: string): Promise<never> => {
    server.kill9();
    await exited;
    throw new StartFailed(`${why}; output tail:\n${tail}`, tail, LOCK_REFUSAL.test(tail));
  };

  // 1. The URL, from the boot line (before the runtime opens).
  const url = await new Promise<string | null>((resolve) => {
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      keep(`${line}\n`);
      try {
        const rec = JSON.parse(line) as { url?: unknown };
        if (typeof rec.url === 'string') resolve(rec.url);
      } catch {
        // not a log line
      }
    });
    void exited.then(() => resolve(null));
    setTimeout(() => resolve(null), settings.readyTimeoutMs).unref();
  });
  if (url === null) return fail(gone ? `server exited (${await exited}) before listening` : 'server printed no URL in time');
  (server as { url: string }).url = url;

  // 2. Ready: /health 200 (503 "starting" while the log is replayed).
  for (;;) {
    if (gone) return fail(`server exited (${await exited}) while starting`);
    if (Date.now() > deadline) return fail(`server not healthy within ${settings.readyTimeoutMs} ms`);
    try {
      const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(5_000) });
      await res.arrayBuffer();
      if (res.status === 200) return server;
    } catch {
      // not accepting yet, or it just died: the loop checks
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
