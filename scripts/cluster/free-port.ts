/**
 * A TCP port free on loopback right now, for a server another process will bind (nats-server, a cluster
 * node, PostgreSQL). Another process may still take it before use, so the choice avoids the usual takers:
 * a port picked by the OS (`listen(0)`) lies in the ephemeral range, which every outgoing connection
 * and every port-0 listener of the parallel test files draws from too (a nats-server once failed with
 * EADDRINUSE on such a port in CI). This picks a random port below that range and checks it binds.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

const LOWEST = 10_000;

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
    if (await binds(port)) return port;
  }
  throw new Error(`no free loopback port found between ${LOWEST} and ${below}`);
}
