/**
 * The main thread's state cache on its own: entries only move forward, the bound drops the least
 * recently used, states are frozen in place, and a state that cannot be frozen is never shared.
 */
import { describe, expect, it } from 'vitest';
import { deepFreeze, StateCache } from '../../src/runtime/state-cache.js';

const account = (balance: number) => ({ owner: 'ann', balance, open: true });

describe('StateCache', () => {
  it('answers the state it was offered, and counts hits and misses', () => {
    const cache = new StateCache(10);
    expect(cache.get('account', 'a')).toBeUndefined();
    cache.offer('account', 'a', 0, 3, account(30));
    expect(cache.get('account', 'a')).toEqual({ version: 3, state: account(30) });
    expect(cache.get('account', 'b')).toBeUndefined();
    expect({ hits: cache.hits, misses: cache.misses, size: cache.size }).toEqual({ hits: 1, misses: 2, size: 1 });
  });

  it('keys by aggregate type and id together', () => {
    const cache = new StateCache(10);
    cache.offer('account', 'x', 0, 1, account(1));
    cache.offer('video', 'x', 0, 5, { status: 'NEW' });
    expect(cache.get('account', 'x')?.version).toBe(1);
    expect(cache.get('video', 'x')?.version).toBe(5);
  });

  it('never moves an entry backwards: an older offer is ignored and answered with the newer entry', () => {
    const cache = new StateCache(10);
    cache.offer('account', 'a', 0, 5, account(50));
    const answer = cache.offer('account', 'a', 0, 4, account(40));
    expect(answer).toEqual({ version: 5, state: account(50) });
    expect(cache.get('account', 'a')).toEqual({ version: 5, state: account(50) });
    cache.offer('account', 'a', 0, 6, account(60));
    expect(cache.get('account', 'a')?.version).toBe(6);
  });

  it('drops the least recently used entry past its bound, a read counting as a use', () => {
    const cache = new StateCache(2);
    cache.offer('account', 'a', 0, 1, account(1));
    cache.offer('account', 'b', 0, 1, account(1));
    cache.get('account', 'a');
    cache.offer('account', 'c', 0, 1, account(1));
    expect(cache.size).toBe(2);
    expect(cache.get('account', 'b')).toBeUndefined();
    expect(cache.get('account', 'a')).toBeDefined();
    expect(cache.get('account', 'c')).toBeDefined();
  });

  it('drops the oldest entry across aggregate types', () => {
    const cache = new StateCache(2);
    cache.offer('video', 'v', 0, 1, { status: 'NEW' });
    cache.offer('account', 'a', 0, 1, account(1));
    cache.offer('account', 'b', 0, 1, account(1));
    expect(cache.get('video', 'v')).toBeUndefined();
    expect(cache.size).toBe(2);
  });

  it('keeps nothing with a bound of 0, yet still freezes and echoes what it is offered', () => {
    const cache = new StateCache(0);
    const state = account(1);
    expect(cache.offer('account', 'a', 0, 1, state)).toEqual({ version: 1, state });
    expect(Object.isFrozen(state)).toBe(true);
    expect(cache.size).toBe(0);
    expect(cache.get('account', 'a')).toBeUndefined();
  });

  it('forgets one aggregate, or every aggregate of the matching partitions', () => {
    const cache = new StateCache(10);
    cache.offer('account', 'a', 0, 1, account(1));
    cache.offer('account', 'b', 1, 1, account(1));
    cache.offer('account', 'c', 2, 1, account(1));
    cache.delete('account', 'a');
    expect(cache.get('account', 'a')).toBeUndefined();
    cache.dropPartitions((p) => p === 1);
    expect(cache.get('account', 'b')).toBeUndefined();
    expect(cache.get('account', 'c')).toBeDefined();
    cache.clear();
    expect(cache.size).toBe(0);
  });

  it('freezes offered states deeply, so what a reader holds cannot change what the next reader gets', () => {
    const cache = new StateCache(10);
    cache.offer('video', 'v', 0, 3, { status: 'PROCESSING', renditions: [{ height: 240 }], source: { path: 'a' } });
    const first = cache.get('video', 'v')!.state as { status: string; renditions: Array<{ height: number }>; source: { path: string } };
    expect(() => (first.status = 'FAILED')).toThrow(TypeError);
    expect(() => first.renditions.push({ height: 480 })).toThrow(TypeError);
    expect(() => (first.renditions[0]!.height = 1)).toThrow(TypeError);
    expect(() => (first.source.path = 'b')).toThrow(TypeError);
    expect(cache.get('video', 'v')!.state).toEqual({ status: 'PROCESSING', renditions: [{ height: 240 }], source: { path: 'a' } });
  });

  it('does not share a state that freezing cannot protect (Map, Date, typed array): each reader gets its own copy', () => {
    const cache = new StateCache(10);
    const offered = { seen: new Map([['k', 1]]), at: new Date(0), bytes: new Uint8Array([1, 2]) };
    cache.offer('odd', 'o', 0, 1, offered);
    offered.seen.set('k', 99); // the offerer's own object: not what the cache holds
    const a = cache.get('odd', 'o')!.state as typeof offered;
    a.seen.set('k', 2);
    a.at.setTime(1);
    a.bytes[0] = 7;
    const b = cache.get('odd', 'o')!.state as typeof offered;
    expect(b.seen.get('k')).toBe(1);
    expect(b.at.getTime()).toBe(0);
    expect([...b.bytes]).toEqual([1, 2]);
  });
});

describe('deepFreeze', () => {
  it('says whether the whole value is now immutable', () => {
    expect(deepFreeze(42)).toBe(true);
    expect(deepFreeze(null)).toBe(true);
    expect(deepFreeze({ a: [1, { b: 'c' }], d: null })).toBe(true);
    expect(deepFreeze(Object.assign(Object.create(null) as object, { a: 1 }))).toBe(true);
    expect(deepFreeze({ a: new Date(0) })).toBe(false);
    expect(deepFreeze({ a: [new Set()] })).toBe(false);
    expect(deepFreeze({ a: new Uint8Array(4) })).toBe(false);
    expect(deepFreeze({ a: new (class Point {})() })).toBe(false);
  });

  it('ends on cycles and shared references', () => {
    const shared = { n: 1 };
    const cyclic: Record<string, unknown> = { left: shared, right: shared };
    cyclic.self = cyclic;
    expect(deepFreeze(cyclic)).toBe(true);
    expect(Object.isFrozen(shared)).toBe(true);
  });
});
