/**
 * The soak's check (scripts/soak/ledger.ts) must be able to fail: against a small HTTP server that
 * answers the two routes the check reads with a log the test writes by hand (paged two events at a
 * time, so paging is exercised), each kind of damage is reported, and an intact log is not.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Write } from '../../scripts/soak/client.js';
import { AccountRecord } from '../../scripts/soak/ledger.js';

interface FakeEvent {
  type: 'AccountOpened' | 'Deposited';
  seq: number;
  data: { amount?: number; owner?: string };
  meta: { commandId?: string };
}

/** Streams the fake server serves; `state` overrides the version/balance it reports (else derived). */
const streams = new Map<string, { events: FakeEvent[]; state?: { version: number; balance: number } }>();
let server: Server;
let url: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    const u = new URL(req.url!, 'http://x');
    const m = /^\/aggregates\/account\/([^/]+)(\/events)?$/.exec(u.pathname);
    const stream = m ? streams.get(m[1]!) : undefined;
    res.setHeader('content-type', 'application/json');
    if (!stream) {
      res.writeHead(404).end(JSON.stringify({ error: 'StreamNotFound' }));
      return;
    }
    if (m![2]) {
      const from = Number(u.searchParams.get('from') ?? 1);
      const page = stream.events.filter((e) => e.seq >= from).slice(0, 2);
      const last = page.at(-1);
      const more = last !== undefined && stream.events.some((e) => e.seq > last.seq);
      res.end(JSON.stringify({ events: page, ...(more ? { next: last.seq + 1 } : {}) }));
      return;
    }
    const derived = {
      version: stream.events.at(-1)?.seq ?? 0,
      balance: stream.events.reduce((n, e) => n + (e.data.amount ?? 0), 0),
    };
    const s = stream.state ?? derived;
    res.end(JSON.stringify({ id: m![1], type: 'account', version: s.version, state: { owner: 'x', balance: s.balance, open: true } }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const open = (account: string): Write => ({ account, commandId: 'open', command: { type: 'Open', data: { owner: account } }, amount: 0 });
const deposit = (account: string, commandId: string, amount: number): Write => ({ account, commandId, command: { type: 'Deposit', data: { amount } }, amount });
const opened = (commandId = 'open'): FakeEvent => ({ type: 'AccountOpened', seq: 1, data: { owner: 'x' }, meta: { commandId } });
const deposited = (seq: number, commandId: string | undefined, amount: number): FakeEvent => ({
  type: 'Deposited',
  seq,
  data: { amount },
  meta: commandId === undefined ? {} : { commandId },
});

/** An account with Open + deposits d1..dn (amount 10 each) acknowledged at versions 2..n+1. */
function acked(id: string, n: number): AccountRecord {
  const rec = new AccountRecord(id);
  rec.ack(open(id), 1);
  for (let i = 1; i <= n; i++) rec.ack(deposit(id, `d${i}`, 10), i + 1);
  return rec;
}
function intactLog(n: number): FakeEvent[] {
  return [opened(), ...Array.from({ length: n }, (_, i) => deposited(i + 2, `d${i + 1}`, 10))];
}
async function kinds(rec: AccountRecord, full = true): Promise<string[]> {
  return (await rec.verify(url, full, 5_000)).map((v) => v.kind);
}

describe('the soak check (ledger.verify)', () => {
  it('finds nothing wrong in an intact log, across pages', async () => {
    streams.set('ok', { events: intactLog(5) });
    const rec = acked('ok', 5);
    expect(await kinds(rec)).toEqual([]);
    expect(rec.verifiedSeq).toBe(6);
  });

  it('reports an acknowledged write missing from the log as lost', async () => {
    streams.set('lost', { events: intactLog(4) });
    expect(await kinds(acked('lost', 5))).toContain('lost');
  });

  it('reports a commandId applied twice as duplicated', async () => {
    streams.set('dup', { events: [...intactLog(3), deposited(5, 'd3', 10)] });
    expect(await kinds(acked('dup', 3))).toContain('duplicated');
  });

  it('reports an event the client never got acknowledged, nor left unknown, as a phantom', async () => {
    streams.set('phantom', { events: [...intactLog(2), deposited(4, 'never-sent', 10)] });
    expect(await kinds(acked('phantom', 2))).toEqual(['phantom', 'state']); // its amount is in the balance too
  });

  it('allows an unknown write in the log once, and missing', async () => {
    const rec = acked('unknown', 2);
    rec.unknown.set('u1', deposit('unknown', 'u1', 7));
    rec.unknown.set('u2', deposit('unknown', 'u2', 8));
    streams.set('unknown', { events: [...intactLog(2), deposited(4, 'u1', 7)] });
    expect(await kinds(rec)).toEqual([]);
  });

  it('reports a write at another seq than acknowledged, a gap, other data, and a state that disagrees', async () => {
    streams.set('moved', { events: [opened(), deposited(2, 'd2', 10), deposited(3, 'd1', 10)] });
    expect(await kinds(acked('moved', 2))).toEqual(['misplaced', 'misplaced']);
    streams.set('gap', { events: [opened(), deposited(2, 'd1', 10), deposited(4, 'd2', 10)] });
    expect(await kinds(acked('gap', 2))).toContain('gap');
    streams.set('data', { events: [opened(), deposited(2, 'd1', 11)] });
    expect(await kinds(acked('data', 1))).toEqual(['wrong data', 'state']);
    streams.set('state', { events: intactLog(2), state: { version: 3, balance: 999 } });
    expect(await kinds(acked('state', 2))).toContain('state');
  });

  it('after an incremental verify, catches an overwrite at the boundary and a loss in the prefix through the state', async () => {
    const rec = acked('later', 3);
    streams.set('later', { events: intactLog(3) });
    expect(await kinds(rec, false)).toEqual([]);

    // The boundary event (seq 4) now holds another command.
    rec.ack(deposit('later', 'd4', 10), 5);
    streams.set('later', { events: [...intactLog(2), deposited(4, 'd4', 10), deposited(5, 'd4', 10)] });
    expect(await kinds(rec, false)).toContain('changed');

    // An event of the already-verified prefix vanished: the incremental read does not see it, the state does.
    const rec2 = acked('prefix', 3);
    streams.set('prefix', { events: intactLog(3) });
    expect(await kinds(rec2, false)).toEqual([]);
    rec2.ack(deposit('prefix', 'd4', 10), 5);
    const withoutD1 = [opened(), deposited(3, 'd2', 10), deposited(4, 'd3', 10), deposited(5, 'd4', 10)];
    streams.set('prefix', { events: withoutD1 });
    expect(await kinds(rec2, false)).toEqual(['state', 'state']); // the balance against the log read, and against the acks
    // ... and a full verify names it.
    expect(await kinds(rec2, true)).toEqual(expect.arrayContaining(['gap', 'lost']));

    // The boundary event itself vanished (the next one moved down to its seq is 'changed'; gone is too).
    const rec3 = acked('boundary', 2);
    streams.set('boundary', { events: intactLog(2) });
    expect(await kinds(rec3, false)).toEqual([]);
    rec3.ack(deposit('boundary', 'd3', 10), 4);
    streams.set('boundary', { events: [opened(), deposited(2, 'd1', 10), deposited(4, 'd3', 10)] });
    expect(await kinds(rec3, false)).toContain('changed');
  });

  it('reports a stream it cannot read, and starts over in full the next time', async () => {
    const rec = acked('gone', 1);
    expect(await kinds(rec, false)).toEqual(['read failed']);
    streams.set('gone', { events: intactLog(1) });
    expect(await kinds(rec, false)).toEqual([]);
  });
});
