/**
 * Health with typed reasons (runtime/health.ts): what the workers reported, slots down, storage and
 * closing become reasons a program switches on by `kind`, each with the line GET /health shows, in the
 * order they happened; a restart or a resume takes its reason back.
 */
import { describe, expect, it } from 'vitest';
import { RuntimeError } from '../../src/kernel/index.js';
import { HealthBook, type HealthSources } from '../../src/runtime/health.js';
import type { StorageStatus } from '../../src/runtime/index.js';

const healthy = (over: Partial<HealthSources> = {}): HealthSources => ({
  slots: [
    { index: 0, down: null },
    { index: 1, down: null },
  ],
  storage: { status: () => null, reason: () => null },
  closed: false,
  ...over,
});

const fenced = new RuntimeError('Fenced', 'another process owns the log');
const corrupt = new RuntimeError('CorruptRecord', 'corrupt record in partition 3 at offset 17');

describe('runtime health', () => {
  it('is ok with no reason while nothing was reported', () => {
    expect(new HealthBook().report(healthy())).toEqual({ ok: true, reasons: [] });
  });

  it('lists reported problems in the order they happened, then slots down, storage and closed', () => {
    const book = new HealthBook();
    book.partitionStopped(3, corrupt);
    book.workerFailed(0, fenced);
    const storage: StorageStatus = { cause: 'ENOSPC', freeBytes: 10, mount: '/data', workers: [1], autoResume: true };
    const down = new RuntimeError('WorkerCrashed', 'worker 1 exited with code 1 and was restarted too often; it stays down');
    const h = book.report(
      healthy({
        slots: [
          { index: 0, down: fenced },
          { index: 1, down },
        ],
        storage: { status: () => storage, reason: () => 'storage: writes stopped on worker(s) 1: disk full (ENOSPC)' },
        closed: true,
      }),
    );
    expect(h).toEqual({
      ok: false,
      storage,
      reasons: [
        { kind: 'partition-stopped', partition: 3, code: 'CorruptRecord', message: 'corrupt record in partition 3 at offset 17' },
        // Worker 0 is down because of what it reported: listed once, as that.
        { kind: 'worker-failed', worker: 0, code: 'Fenced', message: 'worker 0: another process owns the log' },
        { kind: 'worker-down', worker: 1, code: 'WorkerCrashed', message: down.message },
        { kind: 'storage-failed', cause: 'ENOSPC', workers: [1], autoResume: true, message: 'storage: writes stopped on worker(s) 1: disk full (ENOSPC)' },
        { kind: 'closed', message: 'closed' },
      ],
    });
  });

  it('takes a reason back when its worker restarts or its partition resumes', () => {
    const book = new HealthBook();
    book.workerFailed(1, fenced);
    book.partitionStopped(2, corrupt);
    expect(book.stoppedReason(2)).toBe(corrupt.message);
    book.workerRestarted(1);
    book.partitionResumed(2);
    expect(book.stoppedReason(2)).toBeUndefined();
    expect(book.report(healthy())).toEqual({ ok: true, reasons: [] });
  });

  it('cluster mode: a followed partition that fails degrades the runtime without making it unhealthy, one line per partition naming it and the error', () => {
    const book = new HealthBook();
    const followFailures = [{ partition: 5, code: 'CorruptLog', message: 'EVT_bank_P5#7 is not an eventide batch' }];
    expect(book.report(healthy({ followFailures }))).toEqual({
      ok: true,
      reasons: [],
      degraded: [{ kind: 'follow-failed', partition: 5, code: 'CorruptLog', message: 'partition 5: following the log of record fails (CorruptLog: EVT_bank_P5#7 is not an eventide batch)' }],
    });
    // Beside a reason that makes it unhealthy, both are said.
    book.partitionStopped(3, corrupt);
    expect(book.report(healthy({ followFailures }))).toMatchObject({ ok: false, reasons: [{ kind: 'partition-stopped' }], degraded: [{ kind: 'follow-failed', partition: 5 }] });
    expect(book.report(healthy({ followFailures: [] }))).not.toHaveProperty('degraded');
  });
});
