/** Runs a bench TypeScript module in a fresh node process (for RSS and restart figures) and parses its last JSON line. */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface ChildResult<T> {
  result: T;
  /** Wall time from spawn to the JSON line. */
  wallMs: number;
}

/** A TypeScript module of the bench, run through tsx. */
export function runChild<T>(module: URL, args: string[], nodeFlags: string[] = []): Promise<ChildResult<T>> {
  return spawnJson<T>(module, [...nodeFlags, '--import', 'tsx', fileURLToPath(module), ...args]);
}

/** A plain JavaScript module, run by node alone (no tsx in its start-up). */
export function runPlain<T>(module: URL, args: string[], nodeFlags: string[] = []): Promise<ChildResult<T>> {
  return spawnJson<T>(module, [...nodeFlags, fileURLToPath(module), ...args]);
}

function spawnJson<T>(module: URL, argv: string[]): Promise<ChildResult<T>> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, argv, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let wallMs = 0;
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (!wallMs && out.includes('\n')) wallMs = performance.now() - t0;
    });
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      const line = out.trim().split('\n').pop() ?? '';
      if (code !== 0 || !line) return reject(new Error(`${fileURLToPath(module)} exited with ${code}: ${err.slice(-2000)}`));
      try {
        resolve({ result: JSON.parse(line) as T, wallMs });
      } catch {
        reject(new Error(`${fileURLToPath(module)} printed no JSON: ${out.slice(-500)}`));
      }
    });
  });
}

/** Lines of a child's stdout, one promise at a time; rejects once the child closed with no line left. */
export function lineReader(child: ChildProcessByStdio<Writable, Readable, null>): () => Promise<string> {
  let buffered = '';
  const lines: string[] = [];
  let closed: number | null | undefined;
  let waiter: { resolve: (l: string) => void; reject: (e: Error) => void } | null = null;
  const pump = (): void => {
    if (!waiter) return;
    const w = waiter;
    if (lines.length) {
      waiter = null;
      w.resolve(lines.shift()!);
    } else if (closed !== undefined) {
      waiter = null;
      w.reject(new Error(`child process exited with ${closed} before answering`));
    }
  };
  child.stdout.on('data', (d: Buffer) => {
    buffered += d.toString();
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      lines.push(buffered.slice(0, nl));
      buffered = buffered.slice(nl + 1);
    }
    pump();
  });
  // 'close', not 'exit': stdout may still hold the last line when the process has exited.
  child.once('close', (code) => {
    closed = code;
    pump();
  });
  return () =>
    new Promise((resolve, reject) => {
      waiter = { resolve, reject };
      pump();
    });
}
