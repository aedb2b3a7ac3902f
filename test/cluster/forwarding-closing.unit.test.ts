/**
 * The one moment of `serveNode` a real nats-server cannot stage on demand: a request the server
 * delivered after `close()` began (sent before it took the unsubscribe). A stand-in connection hands
 * the request over at exactly that moment; forwarding.int.test.ts covers the rest over a real server.
 */
import type { Msg, NatsConnection } from '@nats-io/transport-node';
import { describe, expect, it } from 'vitest';
import { serveNode, type ForwardHandler } from '../../src/cluster/index.js';
import { ErrorCodes } from '../../src/kernel/index.js';

function standInConnection() {
  let deliver: ((err: Error | null, msg: Msg) => void) | undefined;
  let finishDrain: (() => void) | undefined;
  const connection = {
    info: { max_payload: 1024 * 1024 },
    flush: async () => {},
    subscribe: (_subject: string, opts: { callback: (err: Error | null, msg: Msg) => void }) => {
      deliver = opts.callback;
      return { drain: () => new Promise<void>((resolve) => (finishDrain = resolve)) };
    },
  } as unknown as NatsConnection;
  return {
    connection,
    /** Delivers a request and answers what the service responded with. */
    request(body: unknown): unknown {
      let answer: unknown;
      const msg = { reply: '_INBOX.x', data: new TextEncoder().encode(JSON.stringify(body)), respond: (d: Uint8Array) => ((answer = JSON.parse(new TextDecoder().decode(d))), true) } as unknown as Msg;
      deliver!(null, msg);
      return answer;
    },
    finishDrain: () => finishDrain!(),
  };
}

describe('serveNode while closing', () => {
  it('answers a request that arrives after close() began with NotOwner, without calling the handler', async () => {
    const calls: string[] = [];
    const handler: ForwardHandler = {
      execute: async () => (calls.push('execute'), { id: 'a', type: 't', version: 1, events: [], state: null }),
      load: async () => (calls.push('load'), { id: 'a', type: 't', version: 1, state: null }),
      history: async () => (calls.push('history'), { events: [] }),
    };
    const c = standInConnection();
    const service = await serveNode({ connection: c.connection, group: 'g', nodeId: 'b', handler, closingRetryAfterMs: 500 });
    const closing = service.close();
    const answer = c.request({ v: 1, hops: 1, op: 'execute', aggregateType: 'account', id: 'acc-1', command: { type: 'Deposit' } });
    expect(answer).toMatchObject({ ok: false, error: { code: ErrorCodes.NotOwner, retriable: true, details: { owner: null, retryAfterMs: 500 } } });
    expect(calls).toEqual([]);
    c.finishDrain();
    await closing;
  });
});
