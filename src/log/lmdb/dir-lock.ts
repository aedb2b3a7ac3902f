/**
 * One process at a time per data dir. LMDB itself allows several processes, but the runtime's single-
 * writer rule (one owner per partition assigns seqs and offsets) holds only within one process: a second
 * server, or an offline tool run beside a live server, would assign the same offsets twice.
 *
 * The lock is an advisory `flock(2)` exclusive lock on `owner.lock`, held by an open file description of
 * this process. Why flock and not a pid file: the kernel drops the lock the moment the holder's last
 * descriptor closes, which includes kill -9 (even while the dead process is still a zombie), and it is
 * seen by every process on the host whatever its pid namespace (a second container on the same volume).
 * A pid file is wrong on all three counts (DESIGN pitfalls). Node has no flock binding, so the lock is
 * taken by util-linux's `flock` command on a descriptor we open and pass to it: flock locks belong to
 * the open file description, so the lock stays with our descriptor after the command exits, and it is
 * released when we close it, or when the kernel closes it for a dead process.
 *
 * The file's content (pid, host, holder, since) only serves the error message of whoever is refused.
 * The lock file is never deleted: unlinking a lock file lets a newcomer lock a fresh inode while the old
 * holder keeps the old one. The log's owner epoch (EventLog.claimOwnership) fences writes even then.
 *
 * Gotchas:
 * - Never `closeSync` the descriptor except in `release()`: that releases the lock.
 * - flock on NFS is emulated with POSIX locks by the client; use a local file system for the data dir.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, ftruncateSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { ErrorCodes, RuntimeError } from '../../kernel/index.js';

export interface DirLock {
  /** The lock file, for messages. */
  readonly file: string;
  release(): void;
}

export interface LockOptions {
  /**
   * How long to wait for a lock another process holds (default 0: refuse at once). Used by tools that
   * may start right after the server stopped.
   */
  waitMs?: number;
}

/** Data dirs this process holds: a second runtime in the same process must not share one either. */
const heldHere = new Set<string>();

/** Exit code we ask `flock` to use when the lock is taken (EX_TEMPFAIL). */
const CONFLICT = 75;

export function lockDataDir(dataDir: string, holder: string, options: LockOptions = {}): DirLock {
  mkdirSync(dataDir, { recursive: true });
  const file = join(dataDir, 'owner.lock');
  if (heldHere.has(file)) {
    throw new RuntimeError(ErrorCodes.DataDirLocked, `data dir ${dataDir} is already open in this process; close that runtime first`, { pid: process.pid });
  }
  const fd = openSync(file, 'a+', 0o644);
  try {
    takeFlock(fd, file, dataDir, options.waitMs ?? 0);
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  // Ours now: say who holds it (for the next contender's message).
  ftruncateSync(fd, 0);
  writeSync(fd, JSON.stringify({ pid: process.pid, host: hostname(), holder, since: new Date().toISOString() }), 0);
  heldHere.add(file);
  let released = false;
  return {
    file,
    release() {
      if (released) return;
      released = true;
      heldHere.delete(file);
      closeSync(fd); // the kernel drops the lock with the last descriptor of this open file description
    },
  };
}

function takeFlock(fd: number, file: string, dataDir: string, waitMs: number): void {
  const args = waitMs > 0 ? ['--wait', String(waitMs / 1000)] : ['--nonblock'];
  // stdio[3] = our descriptor: `flock 3` locks the open file description we share with the child.
  const r = spawnSync('flock', [...args, '--exclusive', '--conflict-exit-code', String(CONFLICT), '3'], { stdio: ['ignore', 'ignore', 'pipe', fd], encoding: 'utf8' });
  if (r.error) {
    throw new RuntimeError(ErrorCodes.DataDirLocked, `cannot lock data dir ${dataDir}: the 'flock' command (util-linux) could not run (${(r.error as NodeJS.ErrnoException).code ?? r.error.message}); install util-linux`, {});
  }
  if (r.status === 0) return;
  if (r.status === CONFLICT || r.status === 1) {
    const owner = readOwner(file);
    const who = owner ? `process ${owner.pid ?? '?'} on ${owner.host ?? '?'} (${owner.holder ?? 'unknown'}, since ${owner.since ?? '?'})` : 'another process';
    throw new RuntimeError(ErrorCodes.DataDirLocked, `data dir ${dataDir} is in use by ${who}; stop it first (the lock is released as soon as that process exits)`, {
      ...(typeof owner?.pid === 'number' ? { pid: owner.pid } : {}),
      lockFile: file,
    });
  }
  throw new RuntimeError(ErrorCodes.DataDirLocked, `cannot lock data dir ${dataDir}: flock exited with ${r.status ?? r.signal}: ${(r.stderr ?? '').trim().slice(0, 200)}`, { lockFile: file });
}

function readOwner(file: string): { pid?: number; host?: string; holder?: string; since?: string } | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as { pid?: number; host?: string; holder?: string; since?: string };
  } catch {
    return undefined; // empty (a holder between open and write) or not ours
  }
}
