/**
 * A fake runtime (an in-memory log whose commits are announced, or not, on demand) and fake sockets (that
 * record what is sent, and can stop reading), for the feed hub's unit suites.
 */
import { EventEmitter } from 'node:events';
import type { WebSocket } from 'ws';
import type { EventEnvelope } from '../../src/kernel/index.js';
import type { Runtime } from '../../src/runtime/index.js';
import { FeedHub, resolveFeedOptions, type FeedOptions } from '../../src/server/feed/hub.js';

export const P = 2;

export function envelope(partition: number, offset: number, aggregateType = 'account'): EventEnvelope {
  return { aggregateType, stream: `s-${partition}-${offset}`, type: 'Deposited', seq: 1, data: { amount: offset }, ts: 0, partition, offset, meta: {} };
}

/** A runtime with an in-memory log: `commit` appends and (unless told not to) announces. */
export class FakeRuntime {
  constructor(partitions = P) {
    this.partitionCount = partitions;
    this.logs = Array.from({ length: partitions }, () => []);
    this.heads = new Array<number>(partitions).fill(0);
  }

  readonly partitionCount: number;
  readonly logs: EventEnvelope[][];
  readonly heads: number[];
  logReads = 0;
  #listeners = new Set<(events: EventEnvelope[]) => void>();
  readonly log = {
    iteratePartition: (p: number, from: number, limit: number): EventEnvelope[] => {
      this.logReads++;
      return this.logs[p]!.slice(from, from + limit);
    },
    partitionHead: (p: number): number => this.logs[p]!.length,
  };

  partitions() {
    return this.heads.map((offset, partition) => ({ partition, worker: 0, offset }));
  }

  subscribe(l: (events: EventEnvelope[]) => void): () => void {
    this.#listeners.add(l);
    return () => this.#listeners.delete(l);
  }

  /** Appends `n` events to partition `p`; returns them. */
  append(p: number, n: number, aggregateType = 'account'): EventEnvelope[] {
    const out = Array.from({ length: n }, () => {
      const e = envelope(p, this.logs[p]!.length, aggregateType);
      this.logs[p]!.push(e);
      return e;
    });
    this.heads[p] = this.logs[p]!.length;
    return out;
  }

  announce(events: EventEnvelope[]): void {
    for (const l of this.#listeners) l(events);
  }

  commit(p: number, n: number, aggregateType = 'account'): void {
    for (const e of this.append(p, n, aggregateType)) this.announce([e]);
  }
}

/** A socket that records what is sent; `bufferedAmount` grows with every send until `drain()`. */
let framesSent = 0;

export class FakeSocket extends EventEmitter {
  readonly OPEN = 1;
  readyState = 1;
  bufferedAmount = 0;
  /** Count bytes as queued (a client that does not read) instead of taken at once. */
  stalled = false;
  readonly frames: Array<{ data: Buffer | string; binary: boolean | undefined }> = [];
  /** What each `send` was given, before fragments are joined into a frame (to see shared Buffers). */
  readonly sends: Array<Buffer | string> = [];
  /** For each frame, its rank among the frames of every fake socket (the order they were sent in). */
  readonly order: number[] = [];
  #callbacks: Array<() => void> = [];

  /** Fragments of a message not finished yet (a message sent as several frames, `fin: false`). */
  #fragments: Buffer[] = [];

  send(data: Buffer | string, options: { binary?: boolean; fin?: boolean } | ((err?: Error) => void), cb?: (err?: Error) => void): void {
    const callback = typeof options === 'function' ? options : cb;
    const fin = typeof options === 'function' || options.fin !== false;
    this.sends.push(data);
    const bytes = Buffer.from(data);
    if (this.stalled) this.bufferedAmount += bytes.length;
    if (!fin || this.#fragments.length > 0) {
      this.#fragments.push(bytes);
      if (!fin) return;
      data = Buffer.concat(this.#fragments);
      this.#fragments = [];
    }
    this.frames.push({ data, binary: typeof options === 'function' ? undefined : options.binary });
    this.order.push(++framesSent);
    if (this.stalled) {
      if (callback) this.#callbacks.push(() => callback());
    } else if (callback) setImmediate(() => callback());
  }

  /** The peer reads everything: the queue empties and the send callbacks fire. */
  drain(): void {
    this.stalled = false;
    this.bufferedAmount = 0;
    const cbs = this.#callbacks;
    this.#callbacks = [];
    for (const cb of cbs) cb();
  }

  /** Every event received, flattened out of the messages. */
  events(): EventEnvelope[] {
    return this.messages().flatMap((m) => (m.kind === 'events' ? (m.events as EventEnvelope[]) : []));
  }

  messages(): Array<{ kind: string; position: string; events?: unknown[] }> {
    return this.frames.map((f) => JSON.parse(f.data.toString()) as { kind: string; position: string; events?: unknown[] });
  }

  close(): void {
    this.readyState = 3;
    this.emit('close');
  }
  ping(): void {}
  terminate(): void {
    this.close();
  }
}

export const turns = async (n = 6): Promise<void> => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

export function setup(options: FeedOptions = {}, partitionCount = P) {
  const rt = new FakeRuntime(partitionCount);
  // Catch-ups take the whole thread here (share 1): every step then runs on the next turn of the loop,
  // never after a timer whose delay depends on how fast the machine ran the turn before.
  const hub = new FeedHub(rt as unknown as Runtime, resolveFeedOptions({ batchIntervalMs: 0, catchUpShare: 1, ...options }));
  const all = Array.from({ length: partitionCount }, (_, p) => p);
  const connect = (from?: number[], filter = {}, partitions = all, socket = new FakeSocket()) => {
    const s = socket;
    hub.accept(s as unknown as WebSocket, from ?? [...rt.heads], partitions, filter);
    return s;
  };
  return { rt, hub, connect };
}
