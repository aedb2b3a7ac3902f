/**
 * A private PostgreSQL server for the peers suite: `initdb` into a temp dir, `pg_ctl start` listening
 * only on a unix socket in that dir (no TCP), on a free port number, stopped and deleted at the end.
 * Settings are the defaults a user gets (fsync on, synchronous_commit on, 128 MB shared buffers): a
 * commit is acknowledged once its WAL is flushed to disk, as eventide's default durability does.
 *
 * Gotchas:
 * - PostgreSQL refuses to run as root: as root the server runs as the `postgres` user (runuser), and
 *   the temp dir is handed to it. The bench process (root) can still use the socket.
 * - The data dir must sit on the same disk as eventide's data dirs (both in os.tmpdir()): a tmpfs
 *   would make fsync free and the comparison meaningless.
 * - Should the bench die before `stop`, an exit hook sends the postmaster SIGQUIT (immediate shutdown),
 *   so no server outlives the run; the temp dir itself goes with tmp.ts's exit hook.
 */
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { freePort } from '../../scripts/cluster/free-port.js';
import { join } from 'node:path';
import { makeTempDir, removeTempDir } from './tmp.js';

export const POSTGRES_MISSING = 'skipped: postgresql not installed';

export interface PostgresInstall {
  /** The directory holding initdb, pg_ctl and postgres. */
  bin: string;
  /** Set when we are root: the user the server runs as. */
  runAs: { name: string; uid: number; gid: number } | null;
}

/**
 * Where PostgreSQL is, or why it cannot be used (a reason starting with "skipped:"). `PG_BIN` names the
 * bin dir; otherwise the newest Debian install (/usr/lib/postgresql/<version>/bin), then `pg_config`.
 */
export function findPostgres(): PostgresInstall | string {
  const bin = process.env['PG_BIN'] ?? debianBin() ?? pgConfigBin();
  if (!bin || !existsSync(join(bin, 'initdb')) || !existsSync(join(bin, 'pg_ctl'))) return POSTGRES_MISSING;
  if (process.getuid?.() !== 0) return { bin, runAs: null };
  try {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    return { bin, runAs: { name: 'postgres', uid, gid } };
  } catch {
    return 'skipped: running as root and there is no postgres user to run the server as';
  }
}

function debianBin(): string | null {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return null;
  const versions = readdirSync(root)
    .filter((v) => /^\d+$/.test(v) && existsSync(join(root, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] ? join(root, versions[0], 'bin') : null;
}

function pgConfigBin(): string | null {
  try {
    return execFileSync('pg_config', ['--bindir'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() || null;
  } catch {
    return null;
  }
}

/** How to reach the server with `pg`: `new Pool({ ...server.connection })`. */
export interface PgConnection {
  host: string;
  port: number;
  user: string;
  database: string;
}

export interface PostgresServer {
  readonly connection: PgConnection;
  /** The postmaster's pid: every server process is it or its child. */
  readonly pid: number;
  readonly version: string;
  stop(): void;
}

const live = new Set<number>();
let hooked = false;

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.once('exit', () => {
    for (const pid of live) {
      try {
        process.kill(pid, 'SIGQUIT');
      } catch {
        // already gone
      }
    }
  });
}

/** A free TCP port number. With no TCP listener it only names the socket file, but a free one is never confusing. */

/** Starts a fresh server; throws with initdb's or the server log's last lines if it does not come up. */
export async function startPostgres(install: PostgresInstall, label = 'pg'): Promise<PostgresServer> {
  const dir = makeTempDir(label);
  const data = join(dir, 'data');
  const logFile = join(dir, 'server.log');
  const port = await freePort();
  if (install.runAs) chownSync(dir, install.runAs.uid, install.runAs.gid);
  const run = (tool: string, args: string[]): string => {
    const cmd = join(install.bin, tool);
    const [file, argv] = install.runAs ? ['runuser', ['-u', install.runAs.name, '--', cmd, ...args]] : [cmd, args];
    return execFileSync(file, argv, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], cwd: dir });
  };
  try {
    // trust: only the owner of the private socket dir can reach it (no TCP listener at all).
    run('initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-instructions']);
    // Spelled out even though they are the defaults: the comparison rests on them.
    writeFileSync(join(data, 'postgresql.auto.conf'), `listen_addresses = ''\nunix_socket_directories = '${dir}'\nport = ${port}\nfsync = on\nsynchronous_commit = on\n`, { flag: 'a' });
    run('pg_ctl', ['-D', data, '-l', logFile, '-w', '-t', '60', 'start']);
  } catch (err) {
    const log = existsSync(logFile) ? readFileSync(logFile, 'utf8').slice(-2000) : '';
    const stderr = (err as { stderr?: string }).stderr ?? '';
    removeTempDir(dir);
    throw new Error(`postgres did not start: ${(err as Error).message}\n${stderr}\n${log}`);
  }
  const pid = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
  live.add(pid);
  hookExit();
  const version = run('postgres', ['--version']).trim();
  return {
    connection: { host: dir, port, user: 'postgres', database: 'postgres' },
    pid,
    version,
    stop() {
      try {
        run('pg_ctl', ['-D', data, '-m', 'fast', '-w', '-t', '60', 'stop']);
      } finally {
        live.delete(pid);
        removeTempDir(dir);
      }
    },
  };
}

/**
 * CPU time (user + system, microseconds) of the server: the postmaster and every live child (backends,
 * WAL writer, checkpointer...), plus what its children that already exited used (the kernel adds it to
 * the parent's cutime/cstime when they are reaped). From /proc, in clock ticks (10 ms): read it around
 * a window of seconds. Linux only; elsewhere null.
 */
export function serverCpuMicros(postmaster: number): number | null {
  const own = statOf(postmaster);
  if (!own) return null;
  let ticks = own.utime + own.stime + own.cutime + own.cstime;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const s = statOf(Number(entry));
    if (s && s.ppid === postmaster) ticks += s.utime + s.stime;
  }
  return (ticks * 1_000_000) / clockTicks();
}

interface ProcStat {
  ppid: number;
  utime: number;
  stime: number;
  cutime: number;
  cstime: number;
}

function statOf(pid: number): ProcStat | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // The command name (field 2) may hold spaces and parentheses: fields count from the last ')'.
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { ppid: Number(f[1]), utime: Number(f[11]), stime: Number(f[12]), cutime: Number(f[13]), cstime: Number(f[14]) };
}

let hz: number | null = null;
function clockTicks(): number {
  if (hz === null) {
    try {
      hz = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      hz = 100;
    }
  }
  return hz;
}
