/**
 * Data directories for the bench: created under `os.tmpdir()`, removed after each suite and, should the
 * run be interrupted, on exit. Never under the repo: a 1M-event log is hundreds of MiB.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const live = new Set<string>();
let hooked = false;

export function makeTempDir(label: string): string {
  const dir = mkdtempSync(join(tmpdir(), `eventide-bench-${label}-`));
  live.add(dir);
  if (!hooked) {
    hooked = true;
    process.once('exit', () => {
      for (const d of live) rmSync(d, { recursive: true, force: true });
    });
    for (const sig of ['SIGINT', 'SIGTERM'] as const) {
      process.once(sig, () => {
        for (const d of live) rmSync(d, { recursive: true, force: true });
        process.exit(130);
      });
    }
  }
  return dir;
}

export function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  live.delete(dir);
}

export async function withTempDir<T>(label: string, fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = makeTempDir(label);
  try {
    return await fn(dir);
  } finally {
    removeTempDir(dir);
  }
}
