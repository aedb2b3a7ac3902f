/**
 * Supervision: a decider that throws fails only its command; a worker thread that dies fails its
 * in-flight commands with the retriable WorkerCrashed, is restarted, and its aggregates re-hydrate from
 * the log with the right state; nothing half-written is visible. Uses the test-only `crashy` domain.
 */
import { describe, expect, it } from 'vitest';
import { builtinDomains, LmdbLog, partitionOf, type AccountState, type Runtime } from '../../src/index.js';
import { runTsScript } from '../support/child-process.js';
import { crashyDomain, type CrashyState } from '../support/crashy-domain.js';
import { outcomeOf, rejectionOf } from '../support/errors.js';
import { expectContiguousPartitions, expectContiguousSeqs, foldAccount, fullHistory } from '../support/log-checks.js';
import { useRuntimes, type TestRuntimeOptions } from '../support/runtimes.js';

const domains = [...builtinDomains, crashyDomain];

/** The first `${prefix}-<n>` id whose partition is owned by `worker`. */
function idOnWorker(rt: Runtime, worker: number, prefix: string, skip: string[] = []): string {
  const map = rt.partitions();
  for (let n = 0; ; n++) {
    const id = `${prefix}-${n}`;
    if (!skip.includes(id) && map[partitionOf(id, rt.partitionCount)]!.worker === worker) return id;
  }
}

const ok = (n = 1) => ({ type: 'Ok', data: { n } });
const crash = { type: 'Crash', data: {} };

describe('supervision', () => {
  const runtimes = useRuntimes('supervision');

  /** A runtime with the crashy domain, and a promise per restart of any worker. */
  async function start(options: TestRuntimeOptions = {}): Promise<{ rt: Runtime; restarts: Array<{ worker: number; reason: string }>; nextRestart: () => Promise<void> }> {
    const restarts: Array<{ worker: number; reason: string }> = [];
    let wake: (() => void) | null = null;
    const rt = await runtimes.start({
      domains,
      ...options,
      onWorkerRestart: (worker, reason) => {
        restarts.push({ worker, reason });
        wake?.();
      },
    });
    const nextRestart = () => {
      const seen = restarts.length;
      return new Promise<void>((resolve) => {
        wake = () => restarts.length > seen && resolve();
      });
    };
    return { rt, restarts, nextRestart };
  }

  it('fails only the command whose decider throws, with DeciderFailed, and the aggregate keeps working', async () => {
    const { rt } = await start();
    await rt.execute('crashy', 'thrower', ok());
    const settled = await Promise.allSettled([
      rt.execute('crashy', 'thrower', ok()),
      rt.execute('crashy', 'thrower', { type: 'Throw', data: {} }),
      rt.execute('crashy', 'thrower', ok()),
    ]);
    expect(settled.map(outcomeOf)).toEqual(['ok', 'DeciderFailed', 'ok']);
    expect((settled[1] as PromiseRejectedResult).reason.message).toContain('the crashy decider failed on purpose');
    const history = await fullHistory(rt, 'crashy', 'thrower');
    expectContiguousSeqs(history);
    expect(await rt.load('crashy', 'thrower')).toMatchObject({ version: 3, state: { happened: 3 } });
    expect(rt.health().ok).toBe(true);
  });

  it('reports a decider error that carries its own (Node-style) code as DeciderFailed, not as that foreign code', async () => {
    const { rt } = await start();
    const err = await rejectionOf(rt.execute('crashy', 'coded', { type: 'ThrowCoded', data: {} }));
    expect(err.code).toBe('DeciderFailed');
  });

  it('fails a command whose events cannot be stored without writing any part of it', async () => {
    const { rt } = await start({ workers: 1 });
    await rt.execute('crashy', 'halfway', ok());
    const partition = partitionOf('halfway', rt.partitionCount);
    const headBefore = rt.log.partitionHead(partition);
    const err = await rejectionOf(rt.execute('crashy', 'halfway', { type: 'Unencodable', data: {} }));
    expect(err.code).toBe('DeciderFailed');
    // A later command on another stream forces a durable commit: whatever was queued before it is on disk too.
    await rt.execute('account', 'bystander', { type: 'Open', data: { owner: 'ann' } });
    const history = await fullHistory(rt, 'crashy', 'halfway');
    expect(history.map((e) => e.data)).toEqual([{ i: 1 }]);
    const bystanderHere = partitionOf('bystander', rt.partitionCount) === partition ? 1 : 0;
    expect(rt.log.partitionHead(partition)).toBe(headBefore + bystanderHere);
    const next = await rt.execute('crashy', 'halfway', ok());
    expect(next.version).toBe(2);
    expect((await fullHistory(rt, 'crashy', 'halfway')).map((e) => e.data)).toEqual([{ i: 1 }, { i: 2 }]);
    expectContiguousPartitions(rt.log);
  });

  it('fails a command whose snapshot cannot be stored without writing its events (never an error for a committed command)', async () => {
    const { rt } = await start({ workers: 1, snapshotEvery: 2 });
    await rt.execute('crashy', 'poisoned', ok());
    // Its event is encodable, but the state after it (due for a snapshot at version 2) is not.
    const err = await rejectionOf(rt.execute('crashy', 'poisoned', { type: 'PoisonState', data: {} }));
    expect(err.code).toBe('DeciderFailed');
    await rt.execute('account', 'bystander-2', { type: 'Open', data: { owner: 'ann' } });
    expect((await fullHistory(rt, 'crashy', 'poisoned')).map((e) => e.data)).toEqual([{ i: 1 }]);
    const next = await rt.execute('crashy', 'poisoned', ok());
    expect(next.version).toBe(2);
    expect((next.state as CrashyState).happened).toBe(2);
    expect((await fullHistory(rt, 'crashy', 'poisoned')).map((e) => e.data)).toEqual([{ i: 1 }, { i: 2 }]);
    expectContiguousPartitions(rt.log);
  });

  it('answers a committed command whose state cannot be sent with an error that says it committed, and the worker goes on', async () => {
    const { rt, restarts } = await start({ workers: 1, snapshotEvery: 1000 });
    await rt.execute('crashy', 'poisoned-reply', ok());
    // In one batch with the poisoned command: replies of other commands must still arrive whole.
    const [poisoned, bystander] = await Promise.allSettled([
      rt.execute('crashy', 'poisoned-reply', { type: 'PoisonState', data: {} }),
      rt.execute('account', 'bystander-3', { type: 'Open', data: { owner: 'ann' } }),
    ]);
    expect(poisoned.status).toBe('rejected');
    const err = (poisoned as PromiseRejectedResult).reason as { code: string; details: Record<string, unknown>; message: string };
    expect(err.code).toBe('DeciderFailed');
    expect(err.details).toMatchObject({ committed: true, version: 2 });
    expect(err.message).toMatch(/committed/);
    expect(bystander.status).toBe('fulfilled');
    expect((await fullHistory(rt, 'crashy', 'poisoned-reply')).map((e) => e.data)).toEqual([{ i: 1 }, { i: 2, payload: 'poison the state' }]);
    // The channel to the worker still decodes: later replies arrive, and the worker was never restarted.
    const later = await rt.execute('account', 'bystander-3', { type: 'Deposit', data: { amount: 5 } });
    expect((later.state as AccountState).balance).toBe(5);
    expect((await rt.execute('crashy', 'healthy', ok(2))).version).toBe(2);
    expect(restarts).toEqual([]);
  });

  it('fails the in-flight commands of a dying worker with the retriable WorkerCrashed, restarts it, and re-hydrates its aggregates from the log', async () => {
    const { rt, restarts, nextRestart } = await start();
    const victim = idOnWorker(rt, 0, 'victim');
    const neighbour = idOnWorker(rt, 0, 'neighbour');
    const faraway = idOnWorker(rt, 1, 'faraway');
    for (const id of [neighbour, faraway]) await rt.execute('account', id, { type: 'Open', data: { owner: id } });
    await rt.execute('account', neighbour, { type: 'Deposit', data: { amount: 10 } });
    await rt.execute('crashy', victim, ok(2));

    const restarted = nextRestart();
    const settled = await Promise.allSettled([
      rt.execute('crashy', victim, ok(3), { commandId: 'victim-ok' }),
      rt.execute('account', neighbour, { type: 'Deposit', data: { amount: 5 } }, { commandId: 'neighbour-dep' }),
      rt.execute('crashy', victim, crash),
      rt.execute('account', faraway, { type: 'Deposit', data: { amount: 7 } }),
    ]);
    expect(settled.map(outcomeOf)).toEqual(['WorkerCrashed', 'WorkerCrashed', 'WorkerCrashed', 'ok']);
    const crashed = (settled[2] as PromiseRejectedResult).reason;
    expect(crashed).toMatchObject({ retriable: true, details: { worker: 0 } });
    await restarted;
    expect(restarts).toEqual([{ worker: 0, reason: expect.stringContaining('worker 0') }]);
    expect(rt.health()).toEqual({ ok: true, reasons: [] });

    // Whatever the dead worker had committed is all there is: live state is the fold of the log,
    // and multi-event commands are whole.
    const victimHistory = await fullHistory(rt, 'crashy', victim);
    expectContiguousSeqs(victimHistory);
    expect([2, 5]).toContain(victimHistory.length);
    expect(await rt.load<CrashyState>('crashy', victim)).toMatchObject({ version: victimHistory.length, state: { happened: victimHistory.length } });
    const neighbourHistory = await fullHistory(rt, 'account', neighbour);
    expect((await rt.load<AccountState>('account', neighbour)).state).toEqual(foldAccount(neighbourHistory));

    // Retrying with the same commandIds is safe: each takes effect exactly once.
    await rt.execute('crashy', victim, ok(3), { commandId: 'victim-ok' });
    await rt.execute('account', neighbour, { type: 'Deposit', data: { amount: 5 } }, { commandId: 'neighbour-dep' });
    expect(await rt.load<CrashyState>('crashy', victim)).toMatchObject({ version: 5, state: { happened: 5 } });
    expect((await rt.load<AccountState>('account', neighbour)).state.balance).toBe(15);
    expect((await rt.load<AccountState>('account', faraway)).state.balance).toBe(7);
    expectContiguousPartitions(rt.log);
  });

  it('keeps every command of a crashed batch all-or-nothing across many aggregates', async () => {
    const { rt, nextRestart } = await start({ workers: 1 });
    const ids = Array.from({ length: 30 }, (_, i) => `batch-${i}`);
    await Promise.all(ids.map((id) => rt.execute('crashy', id, ok(3))));
    const restarted = nextRestart();
    const settled = await Promise.allSettled([...ids.map((id) => rt.execute('crashy', id, ok(3))), rt.execute('crashy', 'batch-0', crash)]);
    expect(new Set(settled.map(outcomeOf))).toEqual(new Set(['WorkerCrashed']));
    await restarted;
    for (const id of ids) {
      const history = await fullHistory(rt, 'crashy', id);
      expectContiguousSeqs(history, id);
      expect([3, 6]).toContain(history.length);
      expect((await rt.load<CrashyState>('crashy', id)).state.happened).toBe(history.length);
    }
    expectContiguousPartitions(rt.log);
    const after = await rt.execute('crashy', 'batch-1', ok(1));
    expect(after.version).toBe((await fullHistory(rt, 'crashy', 'batch-1')).length);
  });

  it('survives a worker dying in the middle of a large batch: in-flight commands fail, the worker restarts, the log stays whole', async () => {
    const dataDir = await runtimes.dataDir();
    const child = runTsScript(new URL('../support/crash-mid-batch.ts', import.meta.url), [dataDir]);
    // A liveness check, not a speed limit: the scenario takes a few seconds; a deadlocked runtime never ends.
    const hang = setTimeout(() => child.child.kill('SIGKILL'), 30_000);
    const exit = await child.exited;
    clearTimeout(hang);
    expect(child.lines, `child stderr:\n${child.stderr()}`).toEqual(['settled WorkerCrashed', 'restarted', 'after ok', 'closed']);
    expect(exit).toBe(0);
    const log = LmdbLog.open(dataDir);
    try {
      expectContiguousPartitions(log);
      // Every stream holds whole 5-event commands, plus the one 1-event command sent after the restart to wide-0..19.
      for (const id of log.iterateStreamIds('crashy')) {
        const afterRestart = Number(id.slice('wide-'.length)) < 20 ? 1 : 0;
        expect(([...log.iterateStream('crashy', id)].length - afterRestart) % 5, id).toBe(0);
      }
    } finally {
      await log.close();
    }
  }, 60_000);

  it('gives up on a worker that keeps dying within a minute, says so in health, and fails its commands fast', async () => {
    const { rt, nextRestart } = await start({ maxRestartsPerMinute: 1 });
    const doomed = idOnWorker(rt, 0, 'doomed');
    const healthy = idOnWorker(rt, 1, 'healthy');
    const restarted = nextRestart();
    expect((await rejectionOf(rt.execute('crashy', doomed, crash))).code).toBe('WorkerCrashed');
    await restarted;
    expect((await rejectionOf(rt.execute('crashy', doomed, crash))).code).toBe('WorkerCrashed');
    const health = rt.health();
    expect(health.ok).toBe(false);
    expect(health.reasons).toContainEqual(expect.objectContaining({ kind: 'worker-down', worker: 0, code: 'WorkerCrashed' }));
    expect(health.reasons.map((r) => r.message).join(' ')).toContain('worker 0');
    const err = await rejectionOf(rt.execute('crashy', doomed, ok()));
    expect(err.code).toBe('WorkerCrashed');
    expect((await rt.execute('crashy', healthy, ok())).version).toBe(1);
  });
});
