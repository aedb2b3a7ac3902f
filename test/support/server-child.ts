/**
 * `npm start`'s entry (`node --import tsx src/server/main.ts`) as a child process on a free port, for
 * tests that need the real server: optionally behind a wrapper command (e.g. `unshare --pid --fork
 * --mount-proc`, a second container's view of the host), or started by another command line altogether
 * (`npm start` itself, which runs the built dist/).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));

export interface ServerChild {
  child: ChildProcess;
  /** Resolves with the URL once it listens; rejects when the process exits first. */
  listening: Promise<string>;
  exited: Promise<number | string>;
  stderr(): string;
  stdout(): string;
  kill(signal?: NodeJS.Signals): Promise<number | string>;
}

export function startServer(dataDir: string, options: { wrapper?: string[]; command?: string[]; env?: Record<string, string> } = {}): ServerChild {
  const argv = options.command ?? [process.execPath, '--import', 'tsx', 'src/server/main.ts'];
  const [cmd, ...args] = [...(options.wrapper ?? []), ...argv];
  const child = spawn(cmd!, args, {
    cwd: root,
    env: { ...process.env, DATA_DIR: dataDir, PORT: '0', HOST: '127.0.0.1', PARTITIONS: '4', WORKERS: '2', LOG_LEVEL: 'info', VIDEO_JOBS: '1', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')));
  let stderr = '';
  let stdout = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const listening = new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      stdout += line + '\n';
      try {
        const rec = JSON.parse(line) as { url?: string; msg?: string };
        if (rec.url && rec.msg?.startsWith('eventide listening')) resolve(rec.url);
      } catch {
        // not a log line
      }
    });
    void exited.then((code) => reject(new Error(`server exited with ${code} before listening: ${stderr}`)));
  });
  listening.catch(() => undefined);
  return {
    child,
    listening,
    exited,
    stderr: () => stderr,
    stdout: () => stdout,
    async kill(signal = 'SIGKILL') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** POSTs a command; answers the status and the JSON body (status 0 when the connection failed). */
export async function postCommand(url: string, type: string, id: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  try {
    const res = await fetch(`${url}/aggregates/${type}/${id}/commands`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  } catch (err) {
    return { status: 0, body: { error: String(err) } };
  }
}

export interface StartedServer {
  child: ChildProcess;
  url: string;
  /** Exit code, or the signal name when killed by one. */
  exited: Promise<number | string>;
  stderr(): string;
}

/** `startServer` with `env` added, resolved once it listens. */
export async function startedServer(dataDir: string, env: Record<string, string> = {}): Promise<StartedServer> {
  const s = startServer(dataDir, { env });
  const url = await s.listening;
  return { child: s.child, url, exited: s.exited, stderr: s.stderr };
}

/** The one `fatal` pino line a failed start writes on stderr: its code and message (throws if it is not one). */
export function startFailure(stderr: string): { code: string; msg: string; level: number; pid: number; hostname: string } {
  const lines = stderr.trim().split('\n');
  if (lines.length !== 1) throw new Error(`expected one line on stderr, got ${lines.length}:\n${stderr}`);
  return JSON.parse(lines[0]!) as { code: string; msg: string; level: number; pid: number; hostname: string };
}
