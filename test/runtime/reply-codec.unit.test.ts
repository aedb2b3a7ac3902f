/**
 * The compact reply codec (src/runtime/reply-codec.ts): what the actor host encodes, the worker slot
 * decodes back to the same result, given the request it answers; fresh commits travel without their
 * envelopes (One for one event, Many for several), duplicates whole (Full), errors as Error.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCodes, RuntimeError, deserializeError, errors, type EventEnvelope } from '../../src/kernel/index.js';
import type { CommandRequest, CommandResult } from '../../src/runtime/protocol.js';
import { ReplyKind, decodeResult, errorReply, freshReply, fullReply, type ResultReply } from '../../src/runtime/reply-codec.js';

const req = (extra: Partial<CommandRequest> = {}): CommandRequest => ({ rid: 7, aggregateType: 'account', id: 'a-1', command: { type: 'Deposit', data: { amount: 1 } }, now: 1000, ...extra });

function committed(r: CommandRequest, types: string[], version: number, offset: number): CommandResult {
  const meta = r.commandId === undefined ? {} : { commandId: r.commandId };
  const events: EventEnvelope[] = types.map((type, i) => ({ aggregateType: r.aggregateType, stream: r.id, type, seq: version - types.length + 1 + i, data: { i }, ts: 1000, partition: 3, offset: offset + i, meta }));
  return { version, events, state: { balance: version } };
}

describe('the reply codec', () => {
  it('sends a fresh one-event commit as One and rebuilds the same result from the request', () => {
    const r = req();
    const result = committed(r, ['Deposited'], 5, 40);
    const wire = freshReply(r.rid, result, result.events[0]!);
    expect(wire[1]).toBe(ReplyKind.One);
    expect(decodeResult(wire as ResultReply, r)).toEqual(result);
  });

  it('sends a fresh multi-event commit as Many, meta ids included, and rebuilds the same result', () => {
    const r = req({ commandId: 'c-1' });
    const result = committed(r, ['AccountOpened', 'Deposited', 'Deposited'], 3, 10);
    const wire = freshReply(r.rid, result, result.events[0]!);
    expect(wire[1]).toBe(ReplyKind.Many);
    const decoded = decodeResult(wire as ResultReply, r);
    expect(decoded).toEqual(result);
    expect(decoded.events[0]!.meta).not.toBe(decoded.events[1]!.meta);
  });

  it('carries schema versions only when an event has one: a trailing element of One and Many', () => {
    const r = req();
    const plain = committed(r, ['Deposited', 'Deposited'], 2, 0);
    expect(freshReply(r.rid, plain, plain.events[0]!)).toHaveLength(9);
    const one = committed(r, ['Deposited'], 1, 0);
    one.events[0]!.schemaVersion = 2;
    const oneWire = freshReply(r.rid, one, one.events[0]!);
    expect(oneWire).toHaveLength(10);
    expect(decodeResult(oneWire as ResultReply, r)).toEqual(one);
    const many = committed(r, ['AccountOpened', 'Deposited', 'Deposited'], 3, 0);
    many.events[1]!.schemaVersion = 2;
    many.events[2]!.schemaVersion = 3;
    const manyWire = freshReply(r.rid, many, many.events[0]!);
    expect(manyWire[9]).toEqual([1, 2, 3]);
    const decoded = decodeResult(manyWire as ResultReply, r);
    expect(decoded).toEqual(many);
    expect(decoded.events[0]).not.toHaveProperty('schemaVersion');
  });

  it('sends a duplicate whole (Full) and an error as Error', () => {
    const r = req({ commandId: 'c-2' });
    const duplicate = { ...committed(r, ['Deposited'], 2, 0), duplicate: true };
    const wire = fullReply(r.rid, duplicate);
    expect(wire[1]).toBe(ReplyKind.Full);
    expect(decodeResult(wire as ResultReply, r)).toBe(duplicate);
    const error = errorReply(r.rid, errors.versionConflict(1, 2));
    if (error[1] !== ReplyKind.Error) throw new Error(`kind ${error[1]}`);
    expect(RuntimeError.is(deserializeError(error[2]), ErrorCodes.VersionConflict)).toBe(true);
  });
});
