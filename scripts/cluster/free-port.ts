/**
 * A TCP port free on loopback right now, for a server another process will bind (nats-server, a cluster
 * node, PostgreSQL). Another process may still take it before use, so the choice avoids the usual takers:
 * - a port picked by the OS (`listen(0)`) lies in the ephemeral range, which every outgoing connection
 *   and every port-0 listener of the parallel test files draws from too (a nats-server once failed with
 *   EADDRINUSE on such a port in CI): this picks a random port below that range and checks it binds;
 * - two test processes picking the same random port, one binding it while the other's server is down
 *   for a restart (a restarted nats-server once found its route port taken): each port handed out is
 *   reserved for the life of this process with the data-dir lock (`lockDataDir`: a flock on a file of
 *   the port's own under the temp dir), so no other process using this module hands it out again. The
 *   kernel drops the lock when the holder dies, kill -9 and vitest's ended forks included: no pid files
 *   to go stale.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCodes, RuntimeError } from '../../src/kernel/index.js';
import { lockDataDir, type DirLock } from '../../src/log/index.js';

const LOWEST = 10_000;
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
/** Reservations of this process, kept open (closing one releases it) until the process ends. */
const held: DirLock[] = [];

/** Reserves `port` for this process; false when this process or another live one holds it. */
function reserve(port: number): boolean {
  try {
    held.push(lockDataDir(join(RESERVED_DIR, String(port)), 'freePort'));
    return true;
  } catch (error) {
    if (RuntimeError.is(error) && error.code === ErrorCodes.DataDirLocked) return false;
    throw error;
  }
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
