/**
 * Warm loads from the main thread's state cache: `load(type, id)` answers the last acknowledged state
 * without a worker round trip, yet is never older than a version already acknowledged to a caller, is
 * bounded, falls back to the owning worker, forgets what a crashed worker may have changed, and hands
 * out states nobody can mutate.
 */
import { join } from 'node:path';
import { open } from 'lmdb';
import { describe, expect, it } from 'vitest';
import { builtinDomains, partitionOf, type AccountState, type Runtime, type VideoState } from '../../src/index.js';
import { crashyDomain, type CrashyState } from '../support/crashy-domain.js';
import { outcomeOf, rejectionOf } from '../support/errors.js';
import { foldAccount, fullHistory } from '../support/log-checks.js';
import { useRuntimes, type TestRuntimeOptions, ON_DISK } from '../support/runtimes.js';

const openAccount = (rt: Runtime, id: string) => rt.execute<AccountState>('account', id, { type: 'Open', data: { owner: id } });
const deposit = (rt: Runtime, id: string, amount: number) => rt.execute<AccountState>('account', id, { type: 'Deposit', data: { amount } });
const ok = (n = 1) => ({ type: 'Ok', data: { n } });

/** The first `${prefix}-<n>` id whose partition is owned by `worker` (and is `partition`, when given). */
function idOn(rt: Runtime, where: { worker?: number; partition?: number }, prefix: string): string {
  const map = rt.partitions();
  for (let n = 0; ; n++) {
    const id = `${prefix}-${n}`;
    const p = partitionOf(id, rt.partitionCount);
    if ((where.worker === undefined || map[p]!.worker === where.worker) && (where.partition === undefined || p === where.partition)) return id;
  }
}

/** The number of events the log holds for a stream: the truth a load must agree with. */
function logHead(rt: Runtime, type: string, id: string): number {
  rt.log.refreshReads();
  return rt.log.streamHead(type, id).version;
}

const tick = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('warm loads from the state cache', () => {
  const runtimes = useRuntimes('state-cache');

  it('answers a load after execute with the acknowledged version and state, on the main thread', async () => {
    const rt = await runtimes.start();
    await openAccount(rt, 'a');
    const acked = await deposit(rt, 'a', 25);
    const { stateCacheHits: hits, stateCacheMisses: misses } = rt.counters;
    const loaded = await rt.load<AccountState>('account', 'a');
    expect(loaded).toEqual({ id: 'a', type: 'account', version: acked.version, state: acked.state });
    expect(loaded.state).toEqual(foldAccount(await fullHistory(rt, 'account', 'a')));
    expect(rt.counters.stateCacheHits - hits).toBe(1);
    expect(rt.counters.stateCacheMisses - misses).toBe(0);
    expect((await rejectionOf(rt.load('account', 'never-written'))).code).toBe('StreamNotFound');
  });

  // Regression (found by the video pipeline's e2e test, which waits for a status this way): subscribers
  // hear of a commit before the caller's execute resumes; a load from a subscriber must already see it.
  it('lets a subscriber that loads on a committed event see at least that event version', async () => {
    const rt = await runtimes.start();
    await openAccount(rt, 'sub');
    const seen: Array<{ event: number; loaded: Promise<number> }> = [];
    const unsubscribe = rt.subscribe((events) => {
      for (const e of events) if (e.stream === 'sub') seen.push({ event: e.seq, loaded: rt.load('account', 'sub').then((l) => l.version) });
    });
    for (let i = 1; i <= 5; i++) await deposit(rt, 'sub', i);
    await Promise.all([1, 2, 3].map((i) => deposit(rt, 'sub', i)));
    unsubscribe();
    expect(seen).toHaveLength(8);
    for (const s of seen) expect(await s.loaded).toBeGreaterThanOrEqual(s.event);
  });

  it.runIf(ON_DISK)('asks the worker for a stream no reply has brought yet, then answers the next load itself', async () => {
    const dataDir = await runtimes.dataDir();
    const first = await runtimes.start({ dataDir });
    await openAccount(first, 'b');
    await deposit(first, 'b', 7);
    await runtimes.close(first);
    const rt = await runtimes.start({ dataDir });
    expect(rt.counters.stateCacheEntries).toBe(0);
    const cold = await rt.load<AccountState>('account', 'b');
    const warm = await rt.load<AccountState>('account', 'b');
    expect(cold).toMatchObject({ version: 2, state: { balance: 7 } });
    expect(warm).toEqual(cold);
    expect({ hits: rt.counters.stateCacheHits, misses: rt.counters.stateCacheMisses, entries: rt.counters.stateCacheEntries }).toEqual({ hits: 1, misses: 1, entries: 1 });
    // The time machine is not the cache's business: it still folds from the log.
    expect(await rt.load<AccountState>('account', 'b', { version: 1 })).toMatchObject({ version: 1, state: { balance: 0 } });
  });

  // Cache sizes: the default, one entry (constant eviction: loads mix cache and worker), and off.
  it.each([
    ['the default cache', {}],
    ['a one-entry cache', { stateCacheSize: 1 }],
    ['no cache', { stateCacheSize: 0 }],
  ] as Array<[string, TestRuntimeOptions]>)(
    'never answers a load with a version older than one already acknowledged, under concurrent commands (%s)',
    async (_label, options) => {
      const rt = await runtimes.start(options);
      const ids = ['c0', 'c1', 'c2', 'c3'];
      await Promise.all(ids.map((id) => openAccount(rt, id)));
      const acked = new Map<string, number>(ids.map((id) => [id, 1]));
      const checks: Array<Promise<void>> = [];
      /** A load issued now must see at least what has been acknowledged up to now. */
      const loadAndCheck = (id: string): void => {
        const floor = acked.get(id)!;
        checks.push(
          rt.load<AccountState>('account', id).then((l) => {
            expect(l.version, `${id}: load issued after version ${floor} was acknowledged`).toBeGreaterThanOrEqual(floor);
            expect(l.state.balance).toBe(l.version - 1); // every deposit is 1
          }),
        );
      };
      const commands: Array<Promise<unknown>> = [];
      for (let i = 0; i < 600; i++) {
        const id = ids[i % ids.length]!;
        commands.push(
          deposit(rt, id, 1).then((r) => {
            acked.set(id, Math.max(acked.get(id)!, r.version));
            loadAndCheck(id); // right after the acknowledgement: the hardest case
            loadAndCheck(ids[(i + 1) % ids.length]!);
          }),
        );
        if (i % 50 === 0) {
          loadAndCheck(id); // in flight with the commands
          await tick(0);
        }
      }
      await Promise.all(commands);
      await Promise.all(checks);
      for (const id of ids) {
        const l = await rt.load<AccountState>('account', id);
        expect(l.version).toBe(logHead(rt, 'account', id));
        expect(l.version).toBe(acked.get(id));
      }
      expect(rt.counters.stateCacheEntries).toBeLessThanOrEqual(options.stateCacheSize ?? Infinity);
    },
  );

  it('holds at most stateCacheSize states and falls back to the worker, with the right state, for the rest', async () => {
    const rt = await runtimes.start({ stateCacheSize: 3 });
    const ids = Array.from({ length: 8 }, (_, i) => `bounded-${i}`);
    for (const [i, id] of ids.entries()) {
      await openAccount(rt, id);
      await deposit(rt, id, 10 + i);
    }
    expect(rt.counters.stateCacheEntries).toBe(3);
    const misses = rt.counters.stateCacheMisses;
    for (const [i, id] of ids.entries()) {
      const l = await rt.load<AccountState>('account', id);
      expect(l).toMatchObject({ version: 2, state: { owner: id, balance: 10 + i, open: true } });
      expect(rt.counters.stateCacheEntries).toBeLessThanOrEqual(3);
    }
    // The five oldest had been evicted: those loads went to the workers (and each evicted another).
    expect(rt.counters.stateCacheMisses - misses).toBeGreaterThanOrEqual(5);
  });

  it('rejects a cache size that is not a non-negative integer', async () => {
    for (const stateCacheSize of [-1, 1.5, Number.NaN]) {
      expect((await rejectionOf(runtimes.start({ stateCacheSize }))).code).toBe('InvalidOptions');
    }
  });

  describe('when a worker dies', () => {
    async function start(options: TestRuntimeOptions = {}): Promise<{ rt: Runtime; nextRestart: () => Promise<void> }> {
      let wake: (() => void) | null = null;
      const rt = await runtimes.start({ domains: [...builtinDomains, crashyDomain], ...options, onWorkerRestart: () => wake?.() });
      const nextRestart = () => new Promise<void>((resolve) => (wake = resolve));
      return { rt, nextRestart };
    }

    it.runIf(ON_DISK)('a load right after WorkerCrashed sees every command the log holds, even one whose reply was lost', async () => {
      // A batch is committing (waiting for its flush) when the next batch kills the thread: its
      // commands are often in the log although their callers got WorkerCrashed. A cached state from
      // before them would be a lie. Several rounds, because which way each round goes is up to timing.
      const { rt, nextRestart } = await start({ workers: 1 });
      for (let round = 0; round < 4; round++) {
        const victim = `victim-${round}`;
        await rt.execute('crashy', victim, ok(1));
        expect((await rt.load('crashy', victim)).version).toBe(1); // cached
        const restarted = nextRestart();
        const pending = rt.execute('crashy', victim, ok(5));
        await tick(1); // the batch above reaches the worker and starts its flush
        const [settled] = await Promise.allSettled([pending, rt.execute('crashy', `crasher-${round}`, { type: 'Crash', data: {} })]);
        const loaded = await rt.load<CrashyState>('crashy', victim);
        const head = logHead(rt, 'crashy', victim);
        expect(loaded.version, `round ${round}: the command ${outcomeOf(settled!)}, the log has ${head} events`).toBe(head);
        expect(loaded.state.happened).toBe(head);
        await restarted;
        expect((await rt.load('crashy', victim)).version).toBe(head);
      }
    });

    it.runIf(ON_DISK)("forgets the restarted worker's states and keeps the other worker's", async () => {
      const { rt, nextRestart } = await start({ workers: 2 });
      const near = idOn(rt, { worker: 0 }, 'near');
      const far = idOn(rt, { worker: 1 }, 'far');
      for (const id of [near, far]) {
        await openAccount(rt, id);
        await deposit(rt, id, 5);
      }
      expect(rt.counters.stateCacheEntries).toBe(2);
      const restarted = nextRestart();
      const crasher = idOn(rt, { worker: 0 }, 'crasher');
      expect((await rejectionOf(rt.execute('crashy', crasher, { type: 'Crash', data: {} }))).code).toBe('WorkerCrashed');
      await restarted;
      expect(rt.counters.stateCacheEntries).toBe(1); // far's
      const { stateCacheHits: hits, stateCacheMisses: misses } = rt.counters;
      expect(await rt.load<AccountState>('account', far)).toMatchObject({ version: 2, state: { balance: 5 } });
      expect(await rt.load<AccountState>('account', near)).toMatchObject({ version: 2, state: { balance: 5 } });
      expect([rt.counters.stateCacheHits - hits, rt.counters.stateCacheMisses - misses]).toEqual([1, 1]);
    });
  });

  it.runIf(ON_DISK)('forgets the states of a partition that stops on a corrupt record; the worker answers its loads again', async () => {
    const dataDir = await runtimes.dataDir();
    const first = await runtimes.start({ dataDir, workers: 1 });
    await openAccount(first, 'damaged');
    const neighbour = idOn(first, { partition: partitionOf('damaged', first.partitionCount) }, 'neighbour');
    await openAccount(first, neighbour);
    await deposit(first, 'damaged', 50);
    await runtimes.close(first);
    const raw = open({ path: join(dataDir, 'log.mdb'), maxDbs: 16 });
    const events = raw.openDB('events', { encoding: 'binary', keyEncoding: 'ordered-binary' });
    const value = Buffer.from(events.getBinary(['account', 'damaged', 2])!);
    value[value.length - 1] = value[value.length - 1]! ^ 0x01;
    events.putSync(['account', 'damaged', 2], value);
    await raw.close();

    const rt = await runtimes.start({ dataDir, workers: 1 });
    await deposit(rt, neighbour, 3);
    expect(rt.counters.stateCacheEntries).toBe(1);
    expect((await rejectionOf(deposit(rt, 'damaged', 1))).code).toBe('CorruptRecord');
    expect(rt.counters.stateCacheEntries).toBe(0);
    const misses = rt.counters.stateCacheMisses;
    expect(await rt.load<AccountState>('account', neighbour)).toMatchObject({ version: 2, state: { balance: 3 } });
    expect(rt.counters.stateCacheMisses - misses).toBe(1);
    expect((await rejectionOf(rt.load('account', 'damaged'))).code).toBe('CorruptRecord');
  });

  describe('returned states', () => {
    it('cannot be mutated, so a caller changing one does not change what the next load returns', async () => {
      const rt = await runtimes.start();
      await openAccount(rt, 'frozen');
      const acked = await deposit(rt, 'frozen', 40);
      expect(() => ((acked.state as { balance: number }).balance = 1_000_000)).toThrow(TypeError);
      const loaded = await rt.load<AccountState>('account', 'frozen');
      expect(() => ((loaded.state as { balance: number }).balance = 1_000_000)).toThrow(TypeError);
      expect(() => Object.assign(loaded.state, { owner: 'mallory' })).toThrow(TypeError);
      expect((await rt.load<AccountState>('account', 'frozen')).state).toEqual({ owner: 'frozen', balance: 40, open: true });
      // A copy is the way to a mutable state.
      const copy = structuredClone(loaded.state);
      copy.balance = 1;
      expect((await rt.load<AccountState>('account', 'frozen')).state.balance).toBe(40);
    });

    it.runIf(ON_DISK)('are frozen all the way down (nested objects and arrays), whether they came from a reply or from the worker', async () => {
      const dataDir = await runtimes.dataDir();
      const first = await runtimes.start({ dataDir });
      const video = (type: string, data: object) => first.execute<VideoState>('video', 'clip', { type, data });
      await video('Upload', { path: 'uploads/clip.mp4', bytes: 1000, sha256: 'a'.repeat(64), contentType: 'video/mp4' });
      await video('StartProcessing', { attempt: 1 });
      const acked = await video('CompleteRendition', { attempt: 1, height: 240, path: 'renditions/clip-240.mp4', bytes: 100 });
      expect(() => acked.state.renditions.push({ height: 480, path: 'x', bytes: 1 })).toThrow(TypeError);
      expect(() => (acked.state.renditions[0]!.bytes = 0)).toThrow(TypeError);
      expect(() => ((acked.state.source as { path: string }).path = 'elsewhere')).toThrow(TypeError);
      expect(acked.events.length).toBe(1);
      await runtimes.close(first);

      const rt = await runtimes.start({ dataDir });
      const fromWorker = await rt.load<VideoState>('video', 'clip');
      expect(() => fromWorker.state.renditions.pop()).toThrow(TypeError);
      const again = await rt.load<VideoState>('video', 'clip');
      expect(again.state.renditions).toEqual([{ height: 240, path: 'renditions/clip-240.mp4', bytes: 100 }]);
    });
  });
});
