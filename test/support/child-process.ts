/**
 * Runs a TypeScript script in a child Node process (`node --import tsx <script> ...args`) and reads its
 * stdout line by line, so a test can wait for "n lines so far" and then SIGKILL it at that moment.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const projectRoot = fileURLToPath(new URL('../../', import.meta.url));

export interface ChildRun {
  readonly child: ChildProcessWithoutNullStreams;
  /** Every stdout line read so far. */
  readonly lines: string[];
  /** Resolves once at least `n` lines were read; rejects if the child exits first. */
  waitForLines(n: number): Promise<void>;
  /** SIGKILL (kill -9) and wait for the exit; returns the lines read up to the kill. */
  kill(): Promise<string[]>;
  /** Resolves with the exit code (or signal name) when the child ends. */
  readonly exited: Promise<number | string>;
  stderr(): string;
}

export function runTsScript(script: URL, args: string[], options: { env?: Record<string, string> } = {}): ChildRun {
  const env = options.env ? { ...process.env, ...options.env } : process.env;
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(script), ...args], { cwd: projectRoot, stdio: ['pipe', 'pipe', 'pipe'], env });
  const lines: string[] = [];
  let err = '';
  let waiters: Array<{ n: number; resolve: () => void; reject: (e: Error) => void }> = [];
  let ended = false;
  const exited = new Promise<number | string>((resolve) => {
    child.on('exit', (code, signal) => {
      ended = true;
      for (const w of waiters) w.reject(new Error(`child exited (${code ?? signal}) after ${lines.length} lines; stderr:\n${err}`));
      waiters = [];
      resolve(code ?? signal ?? 'unknown');
    });
  });
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  createInterface({ input: child.stdout }).on('line', (line) => {
    lines.push(line);
    waiters = waiters.filter((w) => (lines.length >= w.n ? (w.resolve(), false) : true));
  });
  return {
    child,
    lines,
    exited,
    stderr: () => err,
    waitForLines(n) {
      if (lines.length >= n) return Promise.resolve();
      if (ended) return Promise.reject(new Error(`child already exited after ${lines.length} lines; stderr:\n${err}`));
      return new Promise((resolve, reject) => waiters.push({ n, resolve, reject }));
    },
    async kill() {
      if (!ended) child.kill('SIGKILL');
      await exited;
      // Lines already in the pipe were written before the kill: let readline deliver them.
      await new Promise<void>((resolve) => (child.stdout.readableEnded ? resolve() : child.stdout.once('close', resolve)));
      return [...lines];
    },
  };
}
