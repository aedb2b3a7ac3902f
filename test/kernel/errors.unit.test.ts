/**
 * The error catalogue: codes are stable strings (part of the public contract), errors cross threads as
 * plain `{ code, message, details }` and come back intact, and `RuntimeError.is` checks the code, not
 * the prototype chain.
 */
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { DomainError, ErrorCodes, RuntimeError, deserializeError, errors, isErrorCode, serializeError, type SerializedError } from '../../src/index.js';

/** What crosses postMessage: the serialized form, structured-cloned, then rebuilt on the other side. */
function acrossThreads(err: unknown): RuntimeError {
  return deserializeError(structuredClone(serializeError(err)) as SerializedError);
}

describe('error codes', () => {
  it('keep every published code, spelled exactly as before (codes may be added, never renamed or removed)', () => {
    const published = [
      'InvalidId',
      'InvalidCommand',
      'InvalidQuery',
      'InvalidOptions',
      'UnknownAggregateType',
      'UnknownCommandType',
      'StreamNotFound',
      'NotFound',
      'VersionConflict',
      'RebuildRunning',
      'PayloadTooLarge',
      'UnsupportedMediaType',
      'Overloaded',
      'WorkerCrashed',
      'RuntimeClosed',
      'StorageFailed',
      'CorruptRecord',
      'PartitionMismatch',
      'DeciderFailed',
      'Internal',
    ];
    expect(ErrorCodes).toMatchObject(Object.fromEntries(published.map((c) => [c, c])));
  });

  it('are each a string equal to its own name, and unique', () => {
    for (const [name, code] of Object.entries(ErrorCodes)) expect(code).toBe(name);
    expect(new Set(Object.values(ErrorCodes)).size).toBe(Object.keys(ErrorCodes).length);
  });

  it.each([
    { name: 'invalidId', err: errors.invalidId('bad id!'), code: 'InvalidId', retriable: false },
    { name: 'unknownAggregateType', err: errors.unknownAggregateType('ship'), code: 'UnknownAggregateType', retriable: false },
    { name: 'versionConflict', err: errors.versionConflict(3, 5), code: 'VersionConflict', retriable: false },
    { name: 'overloaded', err: errors.overloaded('the mailbox'), code: 'Overloaded', retriable: true },
    { name: 'closed', err: errors.closed(), code: 'RuntimeClosed', retriable: true },
    { name: 'streamNotFound', err: errors.streamNotFound('account', 'a1'), code: 'StreamNotFound', retriable: false },
  ])('errors.$name raises code $code (retriable: $retriable)', ({ err, code, retriable }) => {
    expect(err.code).toBe(code);
    expect(err.retriable).toBe(retriable);
    expect(err).toBeInstanceOf(Error);
    expect(err.message.length).toBeGreaterThan(0);
  });

  it('names the expected and actual versions in a VersionConflict', () => {
    expect(errors.versionConflict(3, 5).details).toEqual({ expected: 3, actual: 5 });
  });

  it('caps a hostile id in InvalidId messages and details', () => {
    const err = errors.invalidId('x'.repeat(10_000));
    expect(err.message.length).toBeLessThan(300);
    expect(String(err.details.id).length).toBeLessThanOrEqual(140);
  });
});

describe('errors across threads', () => {
  it('keep code, message, details and retriability through serialize, structuredClone and deserialize', () => {
    const original = new RuntimeError('VersionConflict', 'expected version 1 but the stream is at 2', { expected: 1, actual: 2 }, true);
    const back = acrossThreads(original);
    expect(back).toBeInstanceOf(RuntimeError);
    expect(back.code).toBe('VersionConflict');
    expect(back.message).toBe(original.message);
    expect(back.details).toEqual({ expected: 1, actual: 2 });
    expect(back.retriable).toBe(true);
    expect(back.toJSON()).toEqual(original.toJSON());
  });

  it('keep a domain rejection a DomainError of the same kind', () => {
    const original = new DomainError('InsufficientFunds', 'cannot withdraw 5: balance is 1', 'rule', { balance: 1, amount: 5 });
    const back = acrossThreads(original);
    expect(DomainError.isDomain(back)).toBe(true);
    expect((back as DomainError).kind).toBe('rule');
    expect(back.code).toBe('InsufficientFunds');
    expect(back.details).toEqual({ balance: 1, amount: 5 });
    expect(back.toJSON()).toEqual({ code: 'InsufficientFunds', message: original.message, details: { balance: 1, amount: 5 }, domain: 'rule' });
  });

  it('omit empty details and a false retriable flag from the wire form', () => {
    expect(serializeError(new RuntimeError('NotFound', 'nope'))).toEqual({ code: 'NotFound', message: 'nope' });
    expect(acrossThreads(new RuntimeError('NotFound', 'nope')).details).toEqual({});
  });

  it('turn anything that is not a RuntimeError into Internal, keeping its message', () => {
    expect(serializeError(new TypeError('x is undefined'))).toEqual({ code: 'Internal', message: 'x is undefined' });
    expect(serializeError('a thrown string')).toEqual({ code: 'Internal', message: 'a thrown string' });
    expect(acrossThreads(null).code).toBe('Internal');
  });
});

describe('isErrorCode', () => {
  it('is true for the catalogue\'s codes only: not for a domain code, a Node code or an inherited key', () => {
    for (const code of Object.values(ErrorCodes)) expect(isErrorCode(code), code).toBe(true);
    for (const u of ['InsufficientFunds', 'ENOENT', 'toString', '__proto__', '', undefined, 7]) expect(isErrorCode(u), String(u)).toBe(false);
  });

  it('with RuntimeError.is, tells the runtime\'s own errors from any Error that has a string code', () => {
    const own = (u: unknown) => RuntimeError.is(u) && isErrorCode(u.code);
    expect(own(errors.closed())).toBe(true);
    expect(own(Object.assign(new Error('no such file'), { code: 'ENOENT' }))).toBe(false);
    expect(RuntimeError.is(Object.assign(new Error('no such file'), { code: 'ENOENT' }))).toBe(true); // why isErrorCode exists
  });
});

describe('RuntimeError.is', () => {
  it('checks the code of a rebuilt error, not the class it was created with', () => {
    const back = acrossThreads(new DomainError('AccountNotOpen', 'send Open first', 'conflict'));
    expect(RuntimeError.is(back)).toBe(true);
    expect(RuntimeError.is(back, 'AccountNotOpen')).toBe(true);
    expect(RuntimeError.is(back, 'AccountAlreadyOpen')).toBe(false);
  });

  it('is false for values that are not errors with a string code', () => {
    for (const u of [null, undefined, 'VersionConflict', 42, {}, new Error('no code'), Object.assign(new Error('numeric'), { code: 7 })]) {
      expect(RuntimeError.is(u), String(u)).toBe(false);
    }
  });

  it('works across realms: an error with a code made in another V8 context is recognised', () => {
    const foreign: unknown = runInNewContext('Object.assign(new Error("from another realm"), { code: "VersionConflict" })');
    expect(foreign instanceof Error).toBe(false); // the premise: instanceof cannot see across realms
    expect(RuntimeError.is(foreign, 'VersionConflict')).toBe(true);
  });
});
