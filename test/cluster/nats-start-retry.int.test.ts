/**
 * startNats when a chosen port is taken before nats-server binds it (the race free-port.ts narrows but
 * cannot close): the first start fails on EADDRINUSE and starts over on fresh ports; a restarted node
 * whose route port stays held moves to a fresh one and rejoins its cluster.
 */
import { createServer, type Server } from 'node:net';
import { afterAll, describe, expect, it, vi } from 'vitest';

const held: Server[] = [];
const taken = vi.hoisted(() => ({ port: 0, handedOut: 0 }));

vi.mock('../../scripts/cluster/free-port.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../scripts/cluster/free-port.js')>();
  return {
    // The first port handed out (the first node's client port) is one another process holds.
    freePort: async () => (taken.handedOut++ === 0 ? taken.port : real.freePort()),
  };
});

const { natsServerAvailable, startNats, NATS_MISSING } = await import('../../scripts/cluster/nats-processes.js');
const available = natsServerAvailable();

afterAll(() => {
  for (const s of held) s.close();
});

describe.skipIf(!available)(available ? 'startNats' : `startNats (skipped: ${NATS_MISSING})`, () => {
  it('starts over on fresh ports when one it chose was taken before nats-server bound it', { timeout: 60_000 }, async () => {
    const server = createServer();
    held.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    taken.port = (server.address() as { port: number }).port;
    const nats = await startNats(1);
    try {
      expect(taken.handedOut).toBeGreaterThan(3);
      expect(nats.nodes[0]!.port).not.toBe(taken.port);
      expect(nats.nodes[0]!.process).toBeDefined();
    } finally {
      await nats.stop();
    }
  });

  it('restarts a killed node of a 3-node cluster whose route port another process took meanwhile: on a fresh route port, back in the cluster', { timeout: 120_000 }, async () => {
    const nats = await startNats(3);
    try {
      const before = nats.nodes[0]!.clusterPort;
      const clientPort = nats.nodes[0]!.port;
      await nats.kill(0);
      const squatter = createServer();
      held.push(squatter);
      await new Promise<void>((resolve, reject) => {
        squatter.once('error', reject);
        squatter.listen(before, '127.0.0.1', () => resolve());
      });
      await nats.restart(0);
      const node = nats.nodes[0]!;
      expect(node.process).toBeDefined();
      expect(node.clusterPort).not.toBe(before);
      expect(node.port).toBe(clientPort);
      // Back in the cluster: its routes to both peers are up (the monitor's /routez).
      const routes = async () => ((await (await fetch(`http://127.0.0.1:${node.monitorPort}/routez`)).json()) as { num_routes: number }).num_routes;
      await expect.poll(routes, { timeout: 20_000 }).toBeGreaterThanOrEqual(2);
    } finally {
      await nats.stop();
    }
  });
});
