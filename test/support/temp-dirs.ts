/**
 * Temporary data dirs under `os.tmpdir()`. `useTempDirs()` registers an `afterEach` that removes every
 * dir made during the test, so a failing test leaves no LMDB files behind.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';

export async function makeTempDir(label = 'test'): Promise<string> {
  return mkdtemp(join(tmpdir(), `eventide-${label}-`));
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true, maxRetries: 3 });
}

/** Returns a maker of temp dirs that are all removed after the current test. */
export function useTempDirs(label = 'test'): () => Promise<string> {
  const made: string[] = [];
  afterEach(async () => {
    await Promise.all(made.splice(0).map(removeDir));
  });
  return async () => {
    const dir = await makeTempDir(label);
    made.push(dir);
    return dir;
  };
}
