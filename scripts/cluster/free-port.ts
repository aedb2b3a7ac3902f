/**
 * A TCP port free on loopback right now, for a server another process will bind (nats-server, a cluster
 * node, PostgreSQL). Another process may still take it before use, so the choice avoids the usual takers:
 * - a port picked by the OS (`listen(0)`) lies in the ephemeral range, which every outgoing connection
 *   and every port-0 listener of the parallel test files draws from too (a nats-server once failed with
 *   EADDRINUSE on such a port in CI): this picks a random port below that range and checks it binds;
 * - two test processes picking the same random port, one binding it while the other's server is down
 *   for a restart (a restarted nats-server once found its route port taken): each port handed out is
 *   reserved with a file of its own in the temp dir, created exclusively, so no other process using
 *   this module hands it out again. A file holds its process's pid and goes when the process exits;
 *   one whose process is gone (vitest ends its forks without an exit event) is taken over, as is any
 *   older than `STALE_MS` (a pid reused meanwhile).
 */
import { mkdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const LOWEST = 10_000;
/** A reservation older than this belongs to a process that died without removing it. */
const STALE_MS = 6 * 3600_000;
const RESERVED_DIR = join(tmpdir(), 'eventide-ports');

/** The first port of the OS's ephemeral range (Linux: /proc; elsewhere the IANA range's start). */
function ephemeralStart(): number {
  try {
    const first = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    if (Number.isInteger(first) && first > LOWEST + 1_000) return first;
  } catch {
    // not Linux
  }
  return 49_152;
}

const below = ephemeralStart();
const mine = new Set<number>();
process.once('exit', () => {
  for (const port of mine) {
    try {
      unlinkSync(join(RESERVED_DIR, String(port)));
    } catch {
      // already gone
    }
  }
});

/** True when the reservation `file` belongs to a process that is gone, or is older than `STALE_MS`. */
function stale(file: string): boolean {
  const pid = Number(readFileSync(file, 'utf8'));
  if (Date.now() - statSync(file).mtimeMs > STALE_MS || !Number.isInteger(pid) || pid <= 0) return true;
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/** Reserves `port` for this process; false when this process or another live one holds it. */
function reserve(port: number): boolean {
  if (mine.has(port)) return false;
  mkdirSync(RESERVED_DIR, { recursive: true });
  const file = join(RESERVED_DIR, String(port));
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, String(process.pid), { flag: 'wx' });
      mine.add(port);
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      try {
        if (!stale(file)) return false;
        unlinkSync(file);
      } catch {
        // removed (or being written) meanwhile: try again, or pass the port over
      }
    }
  }
  return false;
}

function binds(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = LOWEST + Math.floor(Math.random() * (below - LOWEST));
    if (!reserve(port)) continue;
    if (await binds(port)) return port;
  }
  throw new Error(`no free loopback port found between ${LOWEST} and ${below}`);
}
