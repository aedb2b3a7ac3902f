/**
 * Forwarding over a real nats-server: node B serves a fake handler, node A forwards to it from its own
 * connection. What each outcome means to the caller (an answer, no responders, a timeout) is the
 * contract tested here; the handler behind it is a stand-in for the runtime.
 */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  forwardTo,
  notOwner,
  serveNode,
  type CommandResultJson,
  type ForwardHandler,
  type ForwardRequest,
  type HistoryPageJson,
  type NodeService,
  type StateJson,
} from '../../src/cluster/index.js';
import { DomainError, ErrorCodes, RuntimeError } from '../../src/kernel/index.js';
import { NATS_MISSING, natsServerAvailable, startNats, type NatsCluster } from '../support/nats-servers.js';

const available = natsServerAvailable();
const GROUP = 'fwd';
let nats: NatsCluster;
let a: NatsConnection;
let b: NatsConnection;
let services: NodeService[] = [];
let nodes = 0;

const deposited = (seq: number, amount: number) => ({
  aggregateType: 'account',
  stream: 'acc-1',
  type: 'Deposited',
  seq,
  data: { amount, currency: 'EUR', note: 'ünïcødé \u2028 "quoted"' },
  ts: '2026-12-01T10:00:00.000Z',
  partition: 3,
  offset: 40 + seq,
  meta: { commandId: 'cmd-1', correlationId: 'corr-1' },
});
const commandResult: CommandResultJson = {
  id: 'acc-1',
  type: 'account',
  version: 2,
  events: [deposited(1, 10), deposited(2, 5)],
  state: { balance: 15, currency: 'EUR', history: [10, 5], nested: { a: null, b: [true, false] } },
  position: '0.0.0.43',
};
const stateResult: StateJson = { id: 'acc-1', type: 'account', version: 2, state: { balance: 15 } };
const historyPage: HistoryPageJson = { events: [deposited(1, 10)], next: 2 };

interface Call {
  op: string;
  args: unknown[];
}

/** A handler that records its calls and answers with `answer` (default: the fixed results above). */
function fakeHandler(answer?: (op: string, args: unknown[]) => Promise<unknown>): { handler: ForwardHandler; calls: Call[] } {
  const calls: Call[] = [];
  const run = async <T>(op: string, args: unknown[], dflt: T): Promise<T> => {
    calls.push({ op, args });
    return answer ? ((await answer(op, args)) as T) : dflt;
  };
  return {
    calls,
    handler: {
      execute: (...args) => run('execute', args, commandResult),
      load: (...args) => run('load', args, stateResult),
      history: (...args) => run('history', args, historyPage),
    },
  };
}

/** Node `nodeId` serving `handler` on B's connection. */
async function serve(handler: ForwardHandler, options: { maxInFlight?: number; maxPayloadBytes?: number } = {}): Promise<{ nodeId: string; service: NodeService }> {
  const nodeId = `node-${++nodes}`;
  const service = await serveNode({ connection: b, group: GROUP, nodeId, handler, ...options });
  services.push(service);
  return { nodeId, service };
}

function forward<R extends ForwardRequest>(nodeId: string, request: R, timeoutMs = 10_000) {
  return forwardTo({ connection: a, group: GROUP, nodeId, request, timeoutMs, origin: 'node-a' });
}

/** A raw request on a node's subject (bytes as given), and its parsed answer. */
async function raw(nodeId: string, body: unknown): Promise<{ ok: boolean; result?: unknown; error?: { code: string; message: string; details?: Record<string, unknown> } }> {
  const data = typeof body === 'string' ? new TextEncoder().encode(body) : new TextEncoder().encode(JSON.stringify(body));
  const answer = await a.request(`eventide.${GROUP}.node.${nodeId}`, data, { timeout: 10_000 });
  return JSON.parse(new TextDecoder().decode(answer.data)) as never;
}

async function failureOf(p: Promise<unknown>): Promise<RuntimeError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(RuntimeError.is(err), `expected a RuntimeError, got ${String(err)}`).toBe(true);
  return err as RuntimeError;
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

const execute = { op: 'execute', aggregateType: 'account', id: 'acc-1', command: { type: 'Deposit', data: { amount: 5 } }, options: { commandId: 'cmd-1', expectedVersion: 1 } } as const;
const load = { op: 'load', aggregateType: 'account', id: 'acc-1' } as const;

describe.skipIf(!available)(available ? 'forwarding between two nodes (1 nats-server)' : `forwarding between two nodes (skipped: ${NATS_MISSING})`, () => {
  beforeAll(async () => {
    nats = await startNats(1);
    a = await connect({ servers: nats.urls, name: 'node-a' });
    b = await connect({ servers: nats.urls, name: 'node-b' });
  });
  afterEach(async () => {
    await Promise.all(services.map((s) => s.close(1000)));
    services = [];
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await nats?.stop();
  });

  describe('round trips', () => {
    it('forwards a command and answers its result (events and state) intact', async () => {
      const { handler, calls } = fakeHandler();
      const { nodeId } = await serve(handler);
      const r = await forward(nodeId, execute);
      expect(r).toEqual(commandResult);
      expect(calls).toEqual([{ op: 'execute', args: ['account', 'acc-1', { type: 'Deposit', data: { amount: 5 } }, { commandId: 'cmd-1', expectedVersion: 1 }] }]);
    });

    it('forwards a command without options as empty options', async () => {
      const { handler, calls } = fakeHandler();
      const { nodeId } = await serve(handler);
      await forward(nodeId, { op: 'execute', aggregateType: 'account', id: 'acc-1', command: { type: 'Open' } });
      expect(calls[0]?.args).toEqual(['account', 'acc-1', { type: 'Open' }, {}]);
    });

    it('forwards loads (now, at a version, at a time) and answers the state', async () => {
      const { handler, calls } = fakeHandler();
      const { nodeId } = await serve(handler);
      expect(await forward(nodeId, load)).toEqual(stateResult);
      await forward(nodeId, { ...load, query: { version: 1 } });
      await forward(nodeId, { ...load, query: { at: '2026-12-01T10:00:00Z' } });
      await forward(nodeId, { ...load, query: { at: 1_764_583_200_000 } });
      expect(calls.map((c) => c.args)).toEqual([
        ['account', 'acc-1'],
        ['account', 'acc-1', { version: 1 }],
        ['account', 'acc-1', { at: '2026-12-01T10:00:00Z' }],
        ['account', 'acc-1', { at: 1_764_583_200_000 }],
      ]);
    });

    it('forwards a history page and answers the events and the next page', async () => {
      const { handler, calls } = fakeHandler();
      const { nodeId } = await serve(handler);
      expect(await forward(nodeId, { op: 'history', aggregateType: 'account', id: 'acc-1', from: 1, limit: 1 })).toEqual(historyPage);
      await forward(nodeId, { op: 'history', aggregateType: 'account', id: 'acc-1' });
      expect(calls.map((c) => c.args)).toEqual([
        ['account', 'acc-1', 1, 1],
        ['account', 'acc-1', undefined, undefined],
      ]);
    });
  });

  describe("the owner's errors", () => {
    it.each([
      ['a runtime error with details', new RuntimeError(ErrorCodes.VersionConflict, 'expected version 1 but the stream is at 2', { expected: 1, actual: 2 })],
      ['a retriable error', new RuntimeError(ErrorCodes.Overloaded, 'the mailbox is full; retry later', { retryAfterMs: 250 }, true)],
      ['a domain rejection', new DomainError('InsufficientFunds', 'balance 10 is less than 20', 'rule', { balance: 10, amount: 20 })],
    ])('come back with their code, message and details: %s', async (_, thrown) => {
      const { handler } = fakeHandler(() => Promise.reject(thrown));
      const { nodeId } = await serve(handler);
      const err = await failureOf(forward(nodeId, execute));
      expect(err.toJSON()).toEqual(thrown.toJSON());
      expect(DomainError.isDomain(err)).toBe(DomainError.isDomain(thrown));
    });

    it('come back as Internal when the handler throws something else', async () => {
      const { handler } = fakeHandler(() => {
        throw new TypeError('boom');
      });
      const { nodeId } = await serve(handler);
      const err = await failureOf(forward(nodeId, load));
      expect(err.code).toBe(ErrorCodes.Internal);
      expect(err.message).toBe('boom');
    });

    it('come back as Internal when the answer is not JSON (a handler bug), instead of a timeout', async () => {
      const { handler } = fakeHandler(async () => ({ ...stateResult, state: { big: 1n } }));
      const { nodeId } = await serve(handler);
      const err = await failureOf(forward(nodeId, load));
      expect(err.code).toBe(ErrorCodes.Internal);
      expect(err.message).toContain('not JSON');
    });

    it("a NotOwner is passed back with the owner the node believes in, and is not forwarded again", async () => {
      const c = fakeHandler();
      const { nodeId: nodeC } = await serve(c.handler);
      const bh = fakeHandler(() => Promise.reject(notOwner(3, nodeC, 1000)));
      const { nodeId: nodeB } = await serve(bh.handler);
      const err = await failureOf(forward(nodeB, execute));
      expect(err.code).toBe(ErrorCodes.NotOwner);
      expect(err.details).toEqual({ partition: 3, owner: nodeC, retryAfterMs: 1000 });
      expect(err.message).toContain(nodeC);
      expect(err.retriable).toBe(true);
      expect(bh.calls).toHaveLength(1);
      expect(c.calls).toHaveLength(0);
    });
  });

  describe('invalid requests, answered without calling the handler', () => {
    const good = { v: 1, hops: 1, ...execute };
    it.each([
      ['an id outside the id rule', { ...good, id: 'acc 1' }, ErrorCodes.InvalidCommand, '/id'],
      ['an id too long', { ...good, id: 'x'.repeat(129) }, ErrorCodes.InvalidCommand, '/id'],
      ['a missing command', { v: 1, hops: 1, op: 'execute', aggregateType: 'account', id: 'acc-1' }, ErrorCodes.InvalidCommand, '/command'],
      ['a missing version', { ...execute, hops: 1 }, ErrorCodes.InvalidCommand, '/v'],
      ['another protocol version', { ...good, v: 2 }, ErrorCodes.InvalidCommand, '/v'],
      ['a second hop', { ...good, hops: 2 }, ErrorCodes.InvalidCommand, '/hops'],
      ['an unknown field', { ...good, extra: 1 }, ErrorCodes.InvalidCommand, '/extra'],
      ['a bad commandId', { ...good, options: { commandId: '../x' } }, ErrorCodes.InvalidCommand, '/options/commandId'],
      ['an unknown op', { ...good, op: 'delete' }, ErrorCodes.InvalidCommand, '/op'],
      ['a read with a bad version', { v: 1, hops: 1, ...load, query: { version: 0 } }, ErrorCodes.InvalidQuery, '/query/version'],
      ['a read with both version and at', { v: 1, hops: 1, ...load, query: { version: 1, at: 5 } }, ErrorCodes.InvalidQuery, '/query'],
      ['a history page too long', { v: 1, hops: 1, op: 'history', aggregateType: 'account', id: 'acc-1', limit: 1001 }, ErrorCodes.InvalidQuery, '/limit'],
      ['a diff point too long', { v: 1, hops: 1, op: 'diff', aggregateType: 'account', id: 'acc-1', from: '1'.repeat(65), to: '2' }, ErrorCodes.InvalidQuery, '/from'],
      ['a diff without its end', { v: 1, hops: 1, op: 'diff', aggregateType: 'account', id: 'acc-1', from: '1' }, ErrorCodes.InvalidQuery, '/to'],
      ['a deletion with an unknown action', { v: 1, hops: 1, op: 'lifecycle', aggregateType: 'account', id: 'acc-1', action: 'purge' }, ErrorCodes.InvalidCommand, '/action'],
      ['an audit record of another kind than a deletion', { v: 1, hops: 1, op: 'audit', commandId: 'c-1', record: { kind: 'RetentionSet', target: { aggregateType: 'account', id: 'acc-1' } } }, ErrorCodes.InvalidCommand, '/record/kind'],
      ['not JSON', '{"v":1,', ErrorCodes.InvalidCommand, ''],
      ['not an object', '[1,2]', ErrorCodes.InvalidCommand, ''],
    ])('%s', async (_, body, code, path) => {
      const { handler, calls } = fakeHandler();
      const { nodeId } = await serve(handler);
      const answer = await raw(nodeId, body);
      expect(answer.ok).toBe(false);
      expect(answer.error?.code).toBe(code);
      expect(answer.error?.details?.path).toBe(path);
      expect(calls).toHaveLength(0);
    });

    it('a diff, a deletion or an audit record sent to a handler written without them is refused, naming the node', async () => {
      const { handler, calls } = fakeHandler();
      const { nodeId } = await serve(handler);
      const diff = await raw(nodeId, { v: 1, hops: 1, op: 'diff', aggregateType: 'account', id: 'acc-1', from: '0', to: '1' });
      expect(diff.error).toMatchObject({ code: ErrorCodes.InvalidQuery, message: `node ${nodeId} does not take forwarded diff requests` });
      const del = await raw(nodeId, { v: 1, hops: 1, op: 'lifecycle', aggregateType: 'account', id: 'acc-1', action: 'delete' });
      expect(del.error?.code).toBe(ErrorCodes.InvalidCommand);
      const audit = await raw(nodeId, { v: 1, hops: 1, op: 'audit', commandId: 'c-1', record: { kind: 'StreamDeleted', target: { aggregateType: 'account', id: 'acc-1' }, by: null, details: { version: 2 } } });
      expect(audit.error?.code).toBe(ErrorCodes.InvalidCommand);
      expect(calls).toHaveLength(0);
    });

    it('a request over the size limit is PayloadTooLarge', async () => {
      const { handler, calls } = fakeHandler();
      const { nodeId } = await serve(handler, { maxPayloadBytes: 1024 });
      const answer = await raw(nodeId, { ...good, command: { type: 'Deposit', data: { note: 'x'.repeat(2000) } } });
      expect(answer.error?.code).toBe(ErrorCodes.PayloadTooLarge);
      expect(answer.error?.details).toMatchObject({ limitBytes: 1024 });
      expect(calls).toHaveLength(0);
    });

    it('the forwarder refuses a request larger than NATS carries, sending nothing', async () => {
      const { handler, calls } = fakeHandler();
      const { nodeId } = await serve(handler);
      const limit = a.info!.max_payload;
      const err = await failureOf(forward(nodeId, { ...execute, command: { type: 'Deposit', data: { note: 'x'.repeat(limit) } } }));
      expect(err.code).toBe(ErrorCodes.PayloadTooLarge);
      expect(calls).toHaveLength(0);
    });

    it('the forwarder refuses an invalid request itself, sending nothing', async () => {
      const { handler, calls } = fakeHandler();
      const { nodeId } = await serve(handler);
      const err = await failureOf(forward(nodeId, { ...execute, id: 'no spaces allowed' }));
      expect(err.code).toBe(ErrorCodes.InvalidCommand);
      expect(calls).toHaveLength(0);
    });
  });

  describe('bounds and failures', () => {
    it('beyond maxInFlight requests at once, answers Overloaded with retryAfterMs', async () => {
      const gate = deferred();
      const { handler, calls } = fakeHandler(async () => {
        await gate.promise;
        return stateResult;
      });
      const { nodeId, service } = await serve(handler, { maxInFlight: 2 });
      const first = [forward(nodeId, load), forward(nodeId, load)];
      await expect.poll(() => service.inFlight).toBe(2);
      const err = await failureOf(forward(nodeId, load));
      expect(err.code).toBe(ErrorCodes.Overloaded);
      expect(err.retriable).toBe(true);
      expect(err.details.retryAfterMs).toBeGreaterThan(0);
      gate.resolve();
      expect(await Promise.all(first)).toEqual([stateResult, stateResult]);
      expect(calls).toHaveLength(2);
      // Room again once they are answered.
      expect(await forward(nodeId, load)).toEqual(stateResult);
    });

    it('forwarding to a node nobody serves is NotOwner at once (no responders), not a timeout', { timeout: 20_000 }, async () => {
      // The timeout is longer than the test's: only the no-responders answer can pass.
      const err = await failureOf(forward('node-gone', execute, 30_000));
      expect(err.code).toBe(ErrorCodes.NotOwner);
      expect(err.retriable).toBe(true);
      expect(err.details).toMatchObject({ owner: 'node-gone' });
      expect(err.details.retryAfterMs).toBeGreaterThan(0);
    });

    it('a command not answered in time is an unknown outcome: retriable, retry with the same commandId', async () => {
      const gate = deferred();
      const { handler, calls } = fakeHandler(async () => {
        await gate.promise;
        return commandResult;
      });
      const { nodeId } = await serve(handler);
      const err = await failureOf(forward(nodeId, execute, 200));
      gate.resolve();
      expect(calls).toHaveLength(1);
      expect(err.code).toBe(ErrorCodes.Unavailable);
      expect(err.retriable).toBe(true);
      expect(err.details).toMatchObject({ owner: nodeId, outcome: 'unknown' });
      expect(err.message).toContain('may or may not have been applied');
      expect(err.message).toContain('same commandId');
    });

    it('a read not answered in time is simply retriable', async () => {
      const gate = deferred();
      const { handler } = fakeHandler(async () => {
        await gate.promise;
        return stateResult;
      });
      const { nodeId } = await serve(handler);
      const err = await failureOf(forward(nodeId, load, 200));
      gate.resolve();
      expect(err.code).toBe(ErrorCodes.Unavailable);
      expect(err.retriable).toBe(true);
      expect(err.details.outcome).toBeUndefined();
    });

    it('an answer larger than NATS carries becomes PayloadTooLarge that says the command was applied', async () => {
      const huge = 'x'.repeat(b.info!.max_payload);
      const { handler } = fakeHandler(async (op) => (op === 'execute' ? { ...commandResult, state: { huge } } : { ...stateResult, state: { huge } }));
      const { nodeId } = await serve(handler);
      const err = await failureOf(forward(nodeId, execute));
      expect(err.code).toBe(ErrorCodes.PayloadTooLarge);
      expect(err.details).toMatchObject({ applied: true, version: commandResult.version });
      expect(err.message).toContain('the command was applied');
      const read = await failureOf(forward(nodeId, load));
      expect(read.code).toBe(ErrorCodes.PayloadTooLarge);
      expect(read.details.applied).toBeUndefined();
    });

    it('close() answers the requests in flight, then the node is gone (NotOwner)', async () => {
      const gate = deferred();
      const { handler } = fakeHandler(async () => {
        await gate.promise;
        return commandResult;
      });
      const { nodeId, service } = await serve(handler);
      const inFlight = forward(nodeId, execute);
      await expect.poll(() => service.inFlight).toBe(1);
      let closed = false;
      const closing = service.close(30_000).then(() => (closed = true));
      // Still waiting for the handler: close() has not resolved.
      await new Promise((r) => setTimeout(r, 100));
      expect(closed).toBe(false);
      gate.resolve();
      expect(await inFlight).toEqual(commandResult);
      await closing;
      expect(service.inFlight).toBe(0);
      const err = await failureOf(forward(nodeId, execute));
      expect(err.code).toBe(ErrorCodes.NotOwner);
    });

    it('close() gives up waiting after its timeout', async () => {
      const { handler } = fakeHandler(() => new Promise(() => {}));
      const { nodeId, service } = await serve(handler);
      void forward(nodeId, load, 2000).catch(() => {});
      await expect.poll(() => service.inFlight).toBe(1);
      await service.close(100);
      expect(service.inFlight).toBe(1);
    });
  });

  describe('options', () => {
    it.each([
      [{ group: 'a.b', nodeId: 'n' }, 'group'],
      [{ group: 'g', nodeId: '*' }, 'nodeId'],
      [{ group: 'g', nodeId: 'n', maxInFlight: 0 }, 'maxInFlight'],
    ])('serveNode refuses %j (InvalidOptions naming %s)', async (options, name) => {
      const err = await failureOf(serveNode({ connection: b, handler: fakeHandler().handler, ...options } as never));
      expect(err.code).toBe(ErrorCodes.InvalidOptions);
      expect(err.message).toContain(name);
    });

    it('forwardTo refuses a node id that is not a subject token', async () => {
      const err = await failureOf(forward('a.>', load));
      expect(err.code).toBe(ErrorCodes.InvalidOptions);
    });
  });
});
