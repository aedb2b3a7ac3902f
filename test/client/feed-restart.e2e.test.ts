/**
 * The feed client across restarts of the server process (`npm start`'s entry as a child) on the same
 * data dir and port, while a writer keeps sending commands through the client: once killed with
 * SIGKILL, once stopped with SIGTERM (feed clients get 1001). The feed reconnects by itself and
 * resumes from its position: every event of the log is handed out exactly once, in order per
 * partition, and every command the writer saw acknowledged is among them.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { createClient, EventideClientError, type EventideClient, type EventJson, type FeedStatus } from '../../src/client/index.js';
import { startServer, type ServerChild } from '../support/server-child.js';
import { makeTempDir, removeDir } from '../support/temp-dirs.js';

let server: ServerChild | undefined;
let dir: string | undefined;
afterAll(async () => {
  await server?.kill('SIGKILL');
  if (dir) await removeDir(dir);
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Sends a command until the server acknowledges it; the same commandId makes every retry safe. */
async function executeUntilAcked(client: EventideClient, id: string, commandId: string, command: { type: string; data: unknown }): Promise<void> {
  for (;;) {
    try {
      await client.execute('account', id, command, { commandId });
      return;
    } catch (err) {
      // No answer (the server is down) or 503 (starting, stopping): it may or may not be applied; send it again.
      if (!EventideClientError.is(err) || !(err.retriable || err.status === 503)) throw err;
      await sleep(20);
    }
  }
}

describe('the feed client across server restarts', () => {
  it('resumes after SIGKILL and after SIGTERM with no gap and no duplicate, and holds every acknowledged command', async () => {
    dir = await makeTempDir('client-restart');
    server = startServer(dir);
    const url = await server.listening;
    const port = new URL(url).port;
    const client = createClient({ baseUrl: url, timeoutMs: 10_000 });
    const statuses: FeedStatus[] = [];
    const feed = client.feed({ from: 'start', WebSocket, reconnect: { initialDelayMs: 20, maxDelayMs: 250 }, onStatus: (s) => statuses.push(s) });

    const acked = new Set<string>();
    const writer = (async () => {
      for (let k = 0; k < 300; k++) {
        const commandId = `cmd-${k}`;
        await executeUntilAcked(client, `acc-${k % 20}`, commandId, k < 20 ? { type: 'Open', data: { owner: `o${k}` } } : { type: 'Deposit', data: { amount: k } });
        acked.add(commandId);
      }
    })();

    const restart = async (signal: NodeJS.Signals) => {
      await server!.kill(signal);
      server = startServer(dir!, { env: { PORT: port } });
      expect(await server.listening).toBe(url);
    };

    const events: EventJson[] = [];
    const restarts: NodeJS.Signals[] = [];
    let heads: number[] | undefined;
    // The writer may finish while the feed waits for more events when it has them all already (a busy
    // box): wait for either, and keep the feed's pending `next` for the next turn (never drop a batch).
    const written = writer.then(() => null);
    let pending: ReturnType<typeof feed.next> | null = null;
    while (!heads || events.length < heads.reduce((a, b) => a + b, 0)) {
      pending ??= feed.next();
      const r = await (heads ? pending : Promise.race([pending, written]));
      if (r === null) {
        heads = (await client.partitions()).partitions.map((p) => p.offset);
        continue;
      }
      pending = null;
      if (r.done) throw new Error('the feed ended');
      events.push(...r.value.events);
      // While the feed is mid-way: a crash after 60 events, a clean stop after 160.
      const due = restarts.length === 0 && events.length >= 60 ? 'SIGKILL' : restarts.length === 1 && events.length >= 160 ? 'SIGTERM' : undefined;
      if (due) {
        restarts.push(due);
        await restart(due);
      }
    }
    if (!heads) throw new Error('unreachable');
    await writer;
    expect(restarts).toEqual(['SIGKILL', 'SIGTERM']);

    // Exactly once, in order per partition, up to the heads of the log.
    const next = heads.map(() => 0);
    for (const e of events) {
      expect(e.offset, `partition ${e.partition}`).toBe(next[e.partition]);
      next[e.partition] = e.offset + 1;
    }
    expect(next).toEqual(heads);
    // Every acknowledged command is in the log the feed delivered, exactly once (retries were duplicates).
    const commandIds = events.map((e) => e.meta.commandId);
    expect(new Set(commandIds).size).toBe(commandIds.length);
    expect([...acked].filter((id) => !commandIds.includes(id))).toEqual([]);
    expect(acked.size).toBe(300);
    // The feed saw the server go: a dropped socket (SIGKILL) and "going away" (SIGTERM).
    const codes = statuses.filter((s) => s.state === 'disconnected').map((s) => (s as { code: number }).code);
    expect(codes).toEqual(expect.arrayContaining([1006, 1001]));
    await feed.close();
  }, 300_000); // three server starts: each takes seconds (tsx, worker threads), many on a loaded box
});
