/**
 * `npm start`'s entry as a child process: under load, SIGTERM makes it stop accepting, finish in-flight
 * commands and exit 0; after a restart on the same data dir every acknowledged (2xx) command is in the log.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from './helpers.js';
import { startedServer, type StartedServer } from '../support/server-child.js';

const tmp = tempDir('eventide-shutdown-');
afterAll(() => tmp.remove());

type Server = StartedServer;

/** Starts `node --import tsx src/server/main.ts` on a free port and waits for its "listening" log line. */
const start = (): Promise<Server> => startedServer(tmp.dir, { PARTITIONS: '4', WORKERS: '2' });

interface Ack {
  id: string;
  version: number;
  commandId: string;
}

/** One client: opens its account, then deposits until the server is gone; records every 2xx. */
async function client(url: string, id: string, acks: Ack[], stopped: () => boolean): Promise<void> {
  let n = 0;
  while (!stopped()) {
    const commandId = `${id}-c${n++}`;
    const body = n === 1 ? { type: 'Open', data: { owner: id }, commandId } : { type: 'Deposit', data: { amount: 1 }, commandId };
    try {
      const res = await fetch(`${url}/aggregates/account/${id}/commands`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      const json = (await res.json()) as { version?: number };
      if (res.status === 200) acks.push({ id, version: json.version!, commandId });
      else if (n === 1) n = 0; // not opened: open again
    } catch {
      if (n === 1) n = 0;
      await new Promise((r) => setTimeout(r, 5)); // refused or reset while stopping
    }
  }
}

describe('npm start (src/server/main.ts)', () => {
  it('stops cleanly on SIGTERM under load, and keeps every acknowledged command', async () => {
    const first = await start();
    let gone = false;
    void first.exited.then(() => (gone = true));
    const acks: Ack[] = [];
    const clients = Array.from({ length: 8 }, (_, i) => client(first.url, `acct-${i}`, acks, () => gone));
    while (acks.length < 300) await new Promise((r) => setTimeout(r, 20));
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    await Promise.all(clients);
    expect(acks.length).toBeGreaterThanOrEqual(300);

    const second = await start();
    try {
      for (let i = 0; i < 8; i++) {
        const id = `acct-${i}`;
        const res = await fetch(`${second.url}/aggregates/account/${id}/events?limit=1000`);
        const { events } = (await res.json()) as { events: Array<{ seq: number; meta: { commandId?: string } }> };
        const bySeq = new Map(events.map((e) => [e.seq, e.meta.commandId]));
        for (const a of acks.filter((x) => x.id === id)) expect(bySeq.get(a.version)).toBe(a.commandId);
        // seq has no gap
        expect(events.map((e) => e.seq)).toEqual(events.map((_, k) => k + 1));
      }
      const health = await fetch(`${second.url}/health`);
      expect(health.status).toBe(200);
    } finally {
      second.child.kill('SIGTERM');
      expect(await second.exited).toBe(0);
    }
  }, 180_000);
});
