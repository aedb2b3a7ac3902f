/**
 * One process at a time per data dir. LMDB itself allows several processes, but the runtime's single-
 * writer rule (one owner per partition assigns seqs and offsets) holds only within one process: a second
 * server, or an offline script run beside a live server, would assign the same offsets twice.
 *
 * The lock is a pid file created with O_EXCL. A stale file (its process is gone, e.g. after kill -9) is
 * taken over. Gotcha: pid reuse could make a stale lock look alive; the error says how to clear it.
 */
import { openSync, closeSync, writeSync, readFileSync, unlinkSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCodes, RuntimeError } from '../kernel/index.js';

export interface DirLock {
  release(): void;
}

/** Data dirs this process holds: a second runtime in the same process must not share one either. */
const heldHere = new Set<string>();

export function lockDataDir(dataDir: string, holder: string): DirLock {
  mkdirSync(dataDir, { recursive: true });
  const file = join(dataDir, 'owner.lock');
  if (heldHere.has(file)) {
    throw new RuntimeError(ErrorCodes.DataDirLocked, `data dir ${dataDir} is already open in this process; close that runtime first`, { pid: process.pid });
  }
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(file, 'wx');
      writeSync(fd, JSON.stringify({ pid: process.pid, holder, since: new Date().toISOString() }));
      closeSync(fd);
      heldHere.add(file);
      let released = false;
      return {
        release() {
          if (released) return;
          released = true;
          heldHere.delete(file);
          try {
            unlinkSync(file);
          } catch {
            // already gone
          }
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      let owner: { pid?: number; holder?: string } = {};
      try {
        owner = JSON.parse(readFileSync(file, 'utf8')) as typeof owner;
      } catch {
        // unreadable or half-written: treat as stale
      }
      // Our own pid here is a file left by an earlier holder in this process that was not released, or a
      // recycled pid; `heldHere` above already refused a live holder of this process.
      if (typeof owner.pid === 'number' && owner.pid !== process.pid && isAlive(owner.pid)) {
        throw new RuntimeError(
          ErrorCodes.DataDirLocked,
          `data dir ${dataDir} is in use by process ${owner.pid} (${owner.holder ?? 'unknown'}); stop it first, or delete ${file} if that process is not ours`,
          { pid: owner.pid },
        );
      }
      try {
        unlinkSync(file);
      } catch {
        // raced with another taker; retry
      }
    }
  }
  throw new RuntimeError(ErrorCodes.DataDirLocked, `could not lock data dir ${dataDir}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
