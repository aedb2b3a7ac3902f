/**
 * Feed clients for the server suites: a recorder over a real WebSocket (every message, parsed and raw),
 * the exactly-once and position checks, and command load to run while clients catch up.
 */
import { expect } from 'vitest';
import { WebSocket } from 'ws';
import type { Runtime } from '../../src/runtime/index.js';
import type { Harness } from '../server/helpers.js';

/** One event as the feed sends it (an envelope). */
export interface FeedEvent {
  aggregateType: string;
  stream: string;
  type: string;
  seq: number;
  partition: number;
  offset: number;
  data: unknown;
  ts: string;
  meta: unknown;
}

export type FeedMessage = { kind: 'hello'; position: string; partitions: number } | { kind: 'events'; position: string; events: FeedEvent[] };

/** A feed client that records every message (batches of events) and its close code. */
export class FeedRecorder {
  readonly messages: FeedMessage[] = [];
  /** Every message's payload as received (the bytes the server sent, whatever the frames). */
  readonly raw: Buffer[] = [];
  readonly socket: WebSocket;
  readonly opened: Promise<void>;
  readonly closed: Promise<{ code: number; reason: string }>;
  /** Every event received, in arrival order, flattened out of the batches. */
  readonly events: FeedEvent[] = [];
  #waiters: Array<{ test: () => boolean; resolve: () => void }> = [];

  constructor(url: string, options: { origin?: string } = {}) {
    this.socket = new WebSocket(url, options.origin ? { origin: options.origin } : {});
    this.opened = new Promise((resolve, reject) => {
      this.socket.once('open', () => resolve());
      this.socket.once('error', reject);
    });
    this.opened.catch(() => undefined); // tests that expect a refusal await it themselves
    this.closed = new Promise((resolve) => this.socket.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    this.socket.on('message', (data, isBinary) => {
      expect(isBinary).toBe(false); // text frames: a browser hands them to JSON.parse as strings
      this.raw.push(data as Buffer);
      const m = JSON.parse(data.toString()) as FeedMessage;
      this.messages.push(m);
      if (m.kind === 'events') this.events.push(...m.events);
      this.#waiters = this.#waiters.filter((w) => (w.test() ? (w.resolve(), false) : true));
    });
  }

  /** Messages that carry events (every one but the hello). */
  get batches(): Array<Extract<FeedMessage, { kind: 'events' }>> {
    return this.messages.filter((m) => m.kind === 'events');
  }

  /** Position carried by the last message received ('' before the first one). */
  get position(): string {
    return this.messages[this.messages.length - 1]?.position ?? '';
  }

  /** Resolves once `test()` holds (checked after every message). */
  until(test: () => boolean): Promise<void> {
    if (test()) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ test, resolve }));
  }

  close(): void {
    this.socket.close();
  }
}

/** Checks a list of feed events is exactly offsets [from[p], head[p]) of every partition, in order. */
export function assertExactlyOnce(events: readonly FeedEvent[], from: readonly number[], heads: readonly number[]): void {
  const next = [...from];
  for (const e of events) {
    const p = e.partition;
    if (e.offset !== next[p]) throw new Error(`partition ${p}: expected offset ${next[p]}, got ${e.offset} (${e.offset < next[p]! ? 'duplicate' : 'gap'})`);
    next[p] = e.offset + 1;
  }
  heads.forEach((h, p) => {
    if (next[p] !== h) throw new Error(`partition ${p}: stopped at ${next[p]}, head is ${h}`);
  });
}

/**
 * Checks every message's position: starting from the hello's, each message moves the position forward,
 * and on the partitions an unfiltered client reads it is exactly the offset after the message's last event.
 */
export function assertPositionsFollowEvents(client: FeedRecorder, filtered = false): void {
  const hello = client.messages[0]!;
  expect(hello.kind).toBe('hello');
  let position = hello.position.split('.').map(Number);
  for (const m of client.batches) {
    expect(m.events.length).toBeGreaterThan(0);
    const next = m.position.split('.').map(Number);
    next.forEach((o, p) => expect(o).toBeGreaterThanOrEqual(position[p]!));
    for (const e of m.events) expect(e.offset).toBeLessThan(next[e.partition]!);
    if (!filtered) {
      const after = [...position];
      for (const e of m.events) after[e.partition] = e.offset + 1;
      expect(next).toEqual(after);
    }
    position = next;
  }
}

export const heads = (runtime: Runtime) => runtime.partitions().map((p) => p.offset);
export const wsUrl = (h: Harness, query = '') => `${h.url.replace('http', 'ws')}/feed${query}`;

/** Opens `count` accounts and deposits into them, `parallel` commands at a time. Returns the ids. */
export async function writeAccounts(runtime: Runtime, prefix: string, count: number, parallel = 50): Promise<string[]> {
  const ids = Array.from({ length: count }, (_, i) => `${prefix}-${i}`);
  for (let i = 0; i < ids.length; i += parallel) {
    const batch = ids.slice(i, i + parallel);
    await Promise.all(batch.map((id) => runtime.execute('account', id, { type: 'Open', data: { owner: id } })));
    await Promise.all(batch.map((id) => runtime.execute('account', id, { type: 'Deposit', data: { amount: 7 } })));
  }
  return ids;
}

/** Keeps executing commands until stopped; resolves with how many it executed. */
export function keepWriting(runtime: Runtime, prefix: string): { stop: () => Promise<number> } {
  let running = true;
  let n = 0;
  const loop = (async () => {
    while (running) {
      await Promise.all(Array.from({ length: 10 }, (_, i) => runtime.execute('account', `${prefix}-${n}-${i}`, { type: 'Open', data: { owner: 'live' } })));
      n += 10;
    }
    return n;
  })();
  return {
    stop: async () => {
      running = false;
      return loop;
    },
  };
}
