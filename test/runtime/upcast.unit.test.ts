/**
 * The event decoder (src/runtime/upcast.ts): what a decider's `events` declaration means for data read
 * from the log (upcast along the chain, refused when newer than the build knows) and for data written
 * (stamped with the current version), and that an undeclared decider costs nothing (same objects back).
 */
import { describe, expect, it } from 'vitest';
import { accountDecider, type AnyDecider, type EventEnvelope } from '../../src/index.js';
import { EventDecoder } from '../../src/runtime/index.js';
import { rejectionOf } from '../support/errors.js';

/** A `note` aggregate whose `Written` event went v1 `{ text }` -> v2 `{ text, lang }` -> v3 `{ body: { text, lang } }`. */
const noteDecider: AnyDecider = {
  type: 'note',
  snapshotVersion: 1,
  commands: {},
  publicCommands: [],
  events: {
    Written: {
      version: 3,
      upcast: {
        1: (d: { text: string }) => ({ text: d.text, lang: 'en' }),
        2: (d: { text: string; lang: string }) => ({ body: { text: d.text, lang: d.lang } }),
      },
    },
    Erased: { version: 1 },
  },
  initialState: () => [],
  decide: () => [],
  evolve: (s: unknown[], e: { data: unknown }) => [...s, e.data],
};

function envelope(type: string, data: unknown, schemaVersion?: number, aggregateType = 'note'): EventEnvelope {
  const e: EventEnvelope = { aggregateType, stream: 'n1', type, seq: 1, data, ts: 0, partition: 0, offset: 0, meta: {} };
  if (schemaVersion !== undefined) e.schemaVersion = schemaVersion;
  return e;
}

describe('EventDecoder', () => {
  const decoder = EventDecoder.of([noteDecider, accountDecider]);

  it('upcasts stored data along the chain to the current version; absent means version 1', () => {
    expect(decoder.upcastEvent('note', 'Written', undefined, { text: 'hi' })).toEqual({ body: { text: 'hi', lang: 'en' } });
    expect(decoder.upcastEvent('note', 'Written', 2, { text: 'hallo', lang: 'de' })).toEqual({ body: { text: 'hallo', lang: 'de' } });
    const current = { body: { text: 'x', lang: 'fr' } };
    expect(decoder.upcastEvent('note', 'Written', 3, current)).toBe(current);
  });

  it('hands back the same envelope when it is at the current version, a copy at that version otherwise', () => {
    const current = envelope('Written', { body: { text: 'x', lang: 'en' } }, 3);
    expect(decoder.envelope(current)).toBe(current);
    const erased = envelope('Erased', {});
    expect(decoder.envelope(erased)).toBe(erased);
    const old = envelope('Written', { text: 'hi' });
    const decoded = decoder.envelope(old);
    expect(decoded).toEqual({ ...old, data: { body: { text: 'hi', lang: 'en' } }, schemaVersion: 3 });
    expect(old.data).toEqual({ text: 'hi' }); // the stored envelope is not changed
  });

  it('passes events of a decider that declares no versions through untouched, whatever they carry', () => {
    expect(decoder.decodes('account')).toBe(false);
    const e = envelope('Deposited', { amount: 1 }, 7, 'account');
    expect(decoder.envelope(e)).toBe(e);
    const evolve = (s: number) => s + 1;
    expect(decoder.evolve('account', evolve)).toBe(evolve);
    expect(EventDecoder.of([accountDecider]).identity).toBe(true);
  });

  it('refuses data stored at a version newer than the decider knows, naming it (DeciderFailed)', async () => {
    const err = await rejectionOf(() => decoder.envelope({ ...envelope('Written', {}, 4), seq: 9 }));
    expect(err).toMatchObject({ code: 'DeciderFailed', details: { aggregateType: 'note', type: 'Written', schemaVersion: 4, known: 3 } });
    expect(err.message).toContain('note/n1#9');
    expect(await rejectionOf(() => decoder.upcastEvent('note', 'Erased', 2, {}))).toMatchObject({ code: 'DeciderFailed', details: { known: 1 } });
  });

  it('reports an upcaster that throws as DeciderFailed with the type and the version it started from', async () => {
    const broken = { ...noteDecider, events: { Written: { version: 2, upcast: { 1: () => { throw new Error('boom'); } } } } };
    const err = await rejectionOf(() => EventDecoder.of([broken]).upcastEvent('note', 'Written', 1, {}));
    expect(err).toMatchObject({ code: 'DeciderFailed', details: { type: 'Written', schemaVersion: 1 } });
    expect(err.message).toContain('boom');
  });

  it('decodes inside a fold: evolve gets current data, and older events are upcast one by one', () => {
    const seen: unknown[] = [];
    const evolve = decoder.evolve<unknown[]>('note', (s, e, v) => (seen.push(v), [...s, e.data]));
    let state: unknown[] = [];
    state = evolve(state, { type: 'Written', data: { text: 'a' } }, undefined);
    state = evolve(state, { type: 'Written', data: { body: { text: 'b', lang: 'en' } } }, 3);
    state = evolve(state, { type: 'Erased', data: {} }, undefined);
    expect(state).toEqual([{ body: { text: 'a', lang: 'en' } }, { body: { text: 'b', lang: 'en' } }, {}]);
    expect(seen).toEqual([3, 3, undefined]);
  });

  it('stamps appends with the current version past 1, and hands back the same array when nothing needs it', () => {
    const erased = [{ type: 'Erased', data: {} }];
    expect(decoder.stamp('note', erased)).toBe(erased);
    expect(decoder.stamp('note', [{ type: 'Written', data: { body: {} } }, ...erased])).toEqual([{ type: 'Written', data: { body: {} }, schemaVersion: 3 }, { type: 'Erased', data: {} }]);
    expect(decoder.stamps('note')).toBe(true);
    expect(decoder.stamps('account')).toBe(false);
    expect(decoder.versionOf('note', 'Written')).toBe(3);
    expect(decoder.versionOf('note', 'Erased')).toBe(1);
  });

  it.each([
    ['not an object', 'v2'],
    ['a version that is no integer >= 1', { Written: { version: 0 } }],
    ['a gap in the chain', { Written: { version: 3, upcast: { 1: (d: unknown) => d } } }],
    ['an upcaster from the current version', { Written: { version: 2, upcast: { 1: (d: unknown) => d, 2: (d: unknown) => d } } }],
    ['an upcaster that is no function', { Written: { version: 2, upcast: { 1: 'add lang' } } }],
  ])('refuses a declaration with %s (InvalidOptions, at load)', async (_, events) => {
    expect(await rejectionOf(() => EventDecoder.of([{ ...noteDecider, events } as AnyDecider]))).toMatchObject({ code: 'InvalidOptions', details: { aggregateType: 'note' } });
  });
});
