/**
 * A scavenge on a full disk (src/runtime/scavenge.ts, "Disk full"), on a small tmpfs: below the
 * free-space reserve a pass removes nothing and says why (a scavenge frees no disk space: LMDB never
 * shrinks its file, so it cannot be the way out), and records nothing in the audit stream; once space is
 * back and writes resume, the next pass removes what retention hides and records it once; the log
 * verifies and the stream's state is whole.
 *
 * Needs root (mount -t tmpfs): without it the suite fails, it does not skip (as test/server/disk-full).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyDataDir } from '../../src/log/lmdb/index.js';
import { partitionOf } from '../../src/partition/index.js';
import { createRuntime, type Runtime } from '../../src/runtime/index.js';
import { rejectionOf } from '../support/errors.js';
import { meterDomain } from '../support/meter-domain.js';

const mnt = mkdtempSync('/tmp/eventide-scavenge-full-');
const RESERVE = 8 * 1024 * 1024;
let runtime: Runtime | undefined;

beforeAll(() => {
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=40m', 'tmpfs', mnt]);
});

afterAll(async () => {
  await runtime?.close();
  execFileSync('umount', ['-l', mnt]);
  rmSync(mnt, { recursive: true, force: true });
});

const free = (): number => {
  const s = statfsSync(mnt);
  return s.bavail * s.bsize;
};

const scavenged = (rt: Runtime) => rt.history('$audit', 'lifecycle', { limit: 1000 }).then((records) => records.filter((r) => r.type === 'ScavengeCompleted'));

describe('a scavenge on a full disk', () => {
  it('removes nothing below the reserve and says why; once space is back it removes and records once', async () => {
    const dataDir = join(mnt, 'data');
    runtime = await createRuntime({ dataDir, partitions: 4, workers: 1, domains: [meterDomain], storageReserveBytes: RESERVE, scavengeEveryMs: 0 });
    for (let c = 0; c < 100; c++) await runtime.execute('meter', 'm-1', { type: 'RecordMany', data: { values: Array.from({ length: 1000 }, (_, i) => i) } });
    await runtime.setRetention({ aggregateType: 'meter' }, { maxCount: 1000 });
    const filler = join(mnt, 'filler');
    writeFileSync(filler, Buffer.alloc(Math.max(0, free() - RESERVE / 2)));

    const refused = await rejectionOf(runtime.scavenge());
    expect(refused).toMatchObject({ code: 'StorageFailed', retriable: true, details: { cause: 'ENOSPC', outcome: 'not-applied' } });
    expect(refused.message).toMatch(/^the scavenge pass stopped: the log refuses writes now \(disk full \(ENOSPC\): \d+ bytes free on .*, below the reserve of 8388608 bytes\); nothing was removed\. A scavenge frees no disk space/);
    expect(runtime.log.streamStart('meter', 'm-1')).toBe(1);
    expect(await scavenged(runtime)).toEqual([]);
    expect(runtime.lastScavenge).toMatchObject({ error: refused.message });

    rmSync(filler);
    await runtime.resumeWrites(); // resumes a worker stopped by a command refused meanwhile, if any
    const report = await runtime.scavenge({ by: 'ops' });
    expect(report).toMatchObject({ streams: 1, events: 99_000 });
    expect(runtime.log.streamStart('meter', 'm-1')).toBe(99_001);
    const records = await scavenged(runtime);
    expect(records.map((r) => r.data)).toEqual([expect.objectContaining({ target: { aggregateType: 'meter' }, by: 'ops', details: expect.objectContaining({ events: 99_000 }) })]);
    expect((await runtime.load('meter', 'm-1')).version).toBe(100_000);
    await runtime.close();
    runtime = undefined;
    expect((await verifyDataDir(dataDir, { partitionOf })).ok).toBe(true);
  });
});
