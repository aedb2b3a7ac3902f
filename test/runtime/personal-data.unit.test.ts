/**
 * Personal fields as deciders and views declare them (src/runtime/personal-data.ts), over the memory
 * key store: declarations are checked when deciders load; sealed on the way in, opened on the way out,
 * `null` once the subject is forgotten; a forgotten subject's new data is refused; a sealed value whose
 * key is missing (not forgotten) is damage, never silently redacted.
 */
import { describe, expect, it } from 'vitest';
import { accountDecider, type AnyDecider } from '../../src/index.js';
import { MemoryLog } from '../../src/log/index.js';
import { loadDeciders } from '../../src/runtime/index.js';
import { PersonalFields, declarePersonalRows, openRow, sealRow, type RowSeal } from '../../src/runtime/personal-data.js';
import { isSealed } from '../../src/runtime/subject-cipher.js';

const withPersonal = (personalData: unknown): AnyDecider => ({ ...accountDecider, type: 'x', personalData } as unknown as AnyDecider);
const keysOf = () => new MemoryLog({ partitions: 1 }).subjectKeys;

describe('personal data declarations', () => {
  it.each([
    ['not an object', 'owner'],
    ['an unknown subject form', { subject: 'ownerId', events: { AccountOpened: ['owner'] } }],
    ['no events', { subject: '$id', events: {} }],
    ['an empty field list', { subject: '$id', events: { AccountOpened: [] } }],
    ['a field twice', { subject: '$id', events: { AccountOpened: ['owner', 'owner'] } }],
    ['an unknown key', { subject: '$id', events: { AccountOpened: ['owner'] }, fields: ['owner'] }],
  ])('refuses %s (InvalidOptions naming the decider)', (_what, declared) => {
    expect(() => PersonalFields.of([withPersonal(declared)])).toThrow(expect.objectContaining({ code: 'InvalidOptions', message: expect.stringContaining('the x decider') }));
  });

  it('is checked when the deciders load, naming the module', async () => {
    const url = new URL('../support/bad-personal-domain.ts', import.meta.url).href;
    await expect(loadDeciders([url])).rejects.toMatchObject({ code: 'InvalidOptions', message: expect.stringMatching(/bad-personal-domain\.ts: the badpersonal decider's personalData: subject must be '\$id'/) });
  });

  it("takes the account's: its owner is personal", () => {
    const p = PersonalFields.of([accountDecider]);
    expect(p.declares('account')).toBe(true);
    expect(p.carries('account', 'AccountOpened')).toBe(true);
    expect(p.carries('account', 'Deposited')).toBe(false);
  });
});

describe('sealing and opening event fields', () => {
  const p = PersonalFields.of([accountDecider]);

  it('seals only the declared fields, opens them back, and leaves other events as they are', () => {
    const keys = keysOf();
    const events = [{ type: 'AccountOpened', data: { owner: 'Ada Lovelace' } }, { type: 'Deposited', data: { amount: 5 } }];
    const sealed = p.seal(keys, 'account', 'acc-1', events);
    expect(isSealed((sealed[0]!.data as { owner: unknown }).owner)).toBe(true);
    expect(sealed[1]).toBe(events[1]);
    expect(events[0]!.data.owner).toBe('Ada Lovelace'); // the caller's data is not touched
    expect(p.open(keys, 'account', 'acc-1', 'AccountOpened', sealed[0]!.data)).toEqual({ owner: 'Ada Lovelace' });
  });

  it('binds a sealed field to its stream: moved to another stream of another subject, it does not open', () => {
    const keys = keysOf();
    const sealed = p.seal(keys, 'account', 'acc-1', [{ type: 'AccountOpened', data: { owner: 'Ada' } }]);
    keys.key('acc-2', true);
    expect(() => p.open(keys, 'account', 'acc-2', 'AccountOpened', sealed[0]!.data)).toThrow(expect.objectContaining({ code: 'CorruptRecord' }));
  });

  it('reads a forgotten subject\'s fields as null, keeps the rest, and refuses new personal data for it', async () => {
    const keys = keysOf();
    const sealed = p.seal(keys, 'account', 'acc-1', [{ type: 'AccountOpened', data: { owner: 'Ada', extra: 1 } }]);
    await keys.forget('acc-1', { commandId: 'c1', by: null });
    expect(p.open(keys, 'account', 'acc-1', 'AccountOpened', sealed[0]!.data)).toEqual({ owner: null, extra: 1 });
    // plaintext stored before the field was declared personal is redacted too
    expect(p.open(keys, 'account', 'acc-1', 'AccountOpened', { owner: 'Ada' })).toEqual({ owner: null });
    expect(() => p.seal(keys, 'account', 'acc-1', [{ type: 'AccountOpened', data: { owner: 'Ada again' } }])).toThrow(expect.objectContaining({ code: 'InvalidCommand' }));
    // a null owner carries nothing personal: stored as it is
    expect(p.seal(keys, 'account', 'acc-1', [{ type: 'AccountOpened', data: { owner: null } }])[0]!.data).toEqual({ owner: null });
  });

  it('calls a sealed value whose subject has no key at all damage (CorruptLog), not forgotten', () => {
    const sealed = p.seal(keysOf(), 'account', 'acc-1', [{ type: 'AccountOpened', data: { owner: 'Ada' } }]);
    expect(() => p.open(keysOf(), 'account', 'acc-1', 'AccountOpened', sealed[0]!.data)).toThrow(expect.objectContaining({ code: 'CorruptLog' }));
  });

  it('seals whole snapshot states, bound to their version, and ignores them once the subject is forgotten', async () => {
    const keys = keysOf();
    const snap = { version: 4, snapshotVersion: 1, state: { owner: 'Ada', balance: 10, open: true }, ts: 1 };
    const sealed = p.sealSnapshot(keys, 'account', 'acc-1', snap)!;
    expect(isSealed(sealed.state)).toBe(true);
    expect(p.openSnapshot(keys, 'account', 'acc-1', sealed)).toEqual(snap);
    expect(() => p.openSnapshot(keys, 'account', 'acc-1', { ...sealed, version: 5 })).toThrow(expect.objectContaining({ code: 'CorruptRecord' }));
    await keys.forget('acc-1', { commandId: 'c1', by: null });
    expect(p.openSnapshot(keys, 'account', 'acc-1', sealed)).toBeUndefined();
    expect(p.sealSnapshot(keys, 'account', 'acc-1', snap)).toBeUndefined();
  });
});

describe('view rows', () => {
  it('seals the declared row fields with the row id\'s key, and reads null once forgotten', async () => {
    const keys = keysOf();
    declarePersonalRows('people', ['name']);
    keys.key('p1', true);
    const stored = sealRow(keys, 'people', 'p1', { name: 'Ada', n: 1 }) as { name: unknown; n: number };
    expect(isSealed(stored.name)).toBe(true);
    expect(openRow(keys, 'people', 'p1', stored)).toEqual({ name: 'Ada', n: 1 });
    // p2 has no key yet (its events predate sealing): the row still never holds its name in plaintext
    expect(isSealed((sealRow(keys, 'people', 'p2', { name: 'Bob', n: 2 }) as { name: unknown }).name)).toBe(true);
    expect(keys.key('p2')).toBeInstanceOf(Uint8Array);
    await keys.forget('p1', { commandId: 'c', by: null });
    expect(openRow(keys, 'people', 'p1', stored)).toEqual({ name: null, n: 1 });
    expect(sealRow(keys, 'people', 'p1', { name: 'Ada again', n: 3 })).toEqual({ name: null, n: 3 });
    // a row stored before the view declared the field reads as stored while its subject is known
    expect(openRow(keys, 'people', 'p2', { name: 'Bob', n: 2 })).toEqual({ name: 'Bob', n: 2 });
    expect(sealRow(keys, 'undeclared', 'p1', { name: 'x' })).toEqual({ name: 'x' });
  });

  it("keeps a field's ciphertext while its value stays (the row writer's memo), and seals again when it changes", async () => {
    const keys = keysOf();
    declarePersonalRows('owners', ['name', 'address']);
    keys.key('p1', true);
    const seals: (RowSeal | undefined)[] = [];
    const first = sealRow(keys, 'owners', 'p1', { name: 'Ada', address: { city: 'Bath' }, n: 1 }, seals) as Record<string, Uint8Array>;
    const second = sealRow(keys, 'owners', 'p1', { name: 'Ada', address: { city: 'Bath' }, n: 2 }, seals) as Record<string, Uint8Array>;
    // the string is memoised: the same bytes; an object is not (it may have changed in place): sealed anew
    expect(second.name).toBe(first.name);
    expect(Buffer.from(second.address!).equals(Buffer.from(first.address!))).toBe(false);
    expect(openRow(keys, 'owners', 'p1', second)).toEqual({ name: 'Ada', address: { city: 'Bath' }, n: 2 });
    const renamed = sealRow(keys, 'owners', 'p1', { name: 'Ada Lovelace', n: 3 }, seals) as Record<string, Uint8Array>;
    expect(renamed.name).not.toBe(first.name);
    expect(openRow(keys, 'owners', 'p1', renamed)).toEqual({ name: 'Ada Lovelace', n: 3 });
    // a memo entry of another field (the view's fields were declared anew) is not reused
    declarePersonalRows('owners', ['address', 'name']);
    const moved = sealRow(keys, 'owners', 'p1', { name: 'Ada Lovelace', address: 'Ada Lovelace' }, seals) as Record<string, Uint8Array>;
    expect(openRow(keys, 'owners', 'p1', moved)).toEqual({ name: 'Ada Lovelace', address: 'Ada Lovelace' });
    // once forgotten, a memo held by a writer that was not told yet is no way around the redaction
    await keys.forget('p1', { commandId: 'c', by: null });
    expect(sealRow(keys, 'owners', 'p1', { name: 'Ada', n: 4 }, [])).toEqual({ name: null, n: 4 });
  });
});
