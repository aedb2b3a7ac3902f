/**
 * Ports for the servers the tests and scripts start (nats-server, cluster nodes, PostgreSQL): chosen
 * below the OS's ephemeral range, where no outgoing connection or port-0 listener of a parallel test
 * can take one between the check and the server's bind.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { freePort } from '../../scripts/cluster/free-port.js';

const ephemeral = (() => {
  try {
    return Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
  } catch {
    return 49_152;
  }
})();

describe('freePort', () => {
  it('answers ports below the ephemeral range that a server can bind', async () => {
    const ports = await Promise.all(Array.from({ length: 20 }, () => freePort()));
    for (const port of ports) {
      expect(port).toBeGreaterThanOrEqual(10_000);
      expect(port).toBeLessThan(ephemeral);
      const server = createServer();
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, '127.0.0.1', () => resolve());
      });
      await new Promise((r) => server.close(r));
    }
  });
});
