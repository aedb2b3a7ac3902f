/**
 * startNats when a chosen port is taken before nats-server binds it (the race free-port.ts narrows but
 * cannot close): the first start fails on EADDRINUSE and starts over on fresh ports.
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
});
