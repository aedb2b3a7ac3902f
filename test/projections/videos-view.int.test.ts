/**
 * The `videos` view through the runtime: a video driven through upload, a failed first attempt and a
 * successful second one, with commands of the stale first attempt interleaved (a slow worker coming
 * back). The stale ones are rejected with `StaleAttempt` and write nothing; the view follows the stream
 * step by step and ends SUCCEEDED at 100 %, equal to a fresh rebuild.
 */
import { describe, expect, it } from 'vitest';
import { RuntimeError, type VideoState } from '../../src/index.js';
import { videosView, type VideoRow } from '../../src/projections/index.js';
import { rejectionOf } from '../support/errors.js';
import { useSharedRuntime } from '../support/projections-runtime.js';
import { CATCH_UP_TIMEOUT_MS, freshReads, listAll, rowsById, truthOf, waitCaughtUp } from '../support/projections-views.js';

const SHA = 'b'.repeat(64);
type Step = { type: string; data: Record<string, unknown> };

describe('the videos view through the runtime', () => {
  const shared = useSharedRuntime('videos-view', { durability: 'commit', snapshotEvery: 3 });

  it('ends SUCCEEDED at 100 % while stale-attempt commands are rejected along the way', async () => {
    const { runtime, views } = shared();
    const id = 'video-1';
    const stale = (k: number): Step[] => [
      { type: 'ReportProgress', data: { attempt: 1, percent: 90 + k } },
      { type: 'CompleteRendition', data: { attempt: 1, height: 360, path: 'videos/video-1/a1-360.mp4', bytes: 10 } },
      { type: 'Succeed', data: { attempt: 1 } },
      { type: 'StartProcessing', data: { attempt: 1 } },
    ];
    const steps: { step: Step; stale?: boolean }[] = [
      { step: { type: 'Upload', data: { path: 'videos/video-1/source', bytes: 123_456, sha256: SHA, contentType: 'video/mp4' } } },
      { step: { type: 'StartProcessing', data: { attempt: 1 } } },
      { step: { type: 'ReportProgress', data: { attempt: 1, percent: 30 } } },
      { step: { type: 'Fail', data: { attempt: 1, reason: 'encoder crashed', retriable: true } } },
      { step: { type: 'StartProcessing', data: { attempt: 2 } } },
      ...stale(0).map((step) => ({ step, stale: true })),
      { step: { type: 'ReportProgress', data: { attempt: 2, percent: 40 } } },
      ...stale(1).map((step) => ({ step, stale: true })),
      { step: { type: 'CompleteRendition', data: { attempt: 2, height: 720, path: 'videos/video-1/720.mp4', bytes: 5_000 } } },
      { step: { type: 'ReportProgress', data: { attempt: 2, percent: 80 } } },
      ...stale(2).map((step) => ({ step, stale: true })),
      { step: { type: 'CompleteRendition', data: { attempt: 2, height: 360, path: 'videos/video-1/360.mp4', bytes: 2_000 } } },
      { step: { type: 'Succeed', data: { attempt: 2, thumbnail: 'videos/video-1/thumb.jpg' } } },
    ];
    let version = 0;
    for (const { step, stale: isStale } of steps) {
      if (isStale) {
        const err = await rejectionOf(runtime.execute('video', id, step));
        expect(err.code, `${step.type} of attempt 1`).toBe('StaleAttempt');
        expect((await runtime.load('video', id)).version, 'a rejected command writes nothing').toBe(version);
        continue;
      }
      const r = await runtime.execute<VideoState>('video', id, step);
      expect(r.events.length, step.type).toBeGreaterThan(0);
      version = r.version;
      // The view follows the stream step by step (its read-your-writes is specified in views.int).
      const last = r.events[r.events.length - 1]!;
      await views.waitFor('videos', { partition: last.partition, offset: last.offset }, CATCH_UP_TIMEOUT_MS);
      await freshReads();
      const { row } = await views.get<VideoRow>('videos', id);
      expect(row).toMatchObject({ status: r.state.status, progress: r.state.progress, attempt: r.state.attempt, version: r.version });
    }

    const { row } = await views.get<VideoRow>('videos', id);
    expect(row).toMatchObject({ status: 'SUCCEEDED', progress: 100, attempt: 2, thumbnail: true, error: null, bytes: 123_456 });
    expect(row.renditions).toEqual([
      { height: 360, bytes: 2_000 },
      { height: 720, bytes: 5_000 },
    ]);
    // The stream holds only the accepted steps, and the view equals a fresh fold and a rebuild.
    expect(runtime.log.streamHead('video', id).version).toBe(version);
    await waitCaughtUp(runtime, views, 'videos');
    const live = rowsById(listAll(views, 'videos'));
    expect(live).toEqual(truthOf(runtime, videosView));
    await views.rebuild('videos');
    await freshReads();
    expect(rowsById(listAll(views, 'videos'))).toEqual(live);
  });

  it('keeps the final status when stale commands of an older attempt race the newer attempt', async () => {
    const { runtime, views } = shared();
    const id = 'video-2';
    await runtime.execute('video', id, { type: 'Upload', data: { path: 'videos/video-2/source', bytes: 10, sha256: SHA } });
    await runtime.execute('video', id, { type: 'StartProcessing', data: { attempt: 1 } });
    await runtime.execute('video', id, { type: 'Fail', data: { attempt: 1, reason: 'lost worker', retriable: true } });
    await runtime.execute('video', id, { type: 'StartProcessing', data: { attempt: 2 } });
    // The newer attempt finishes while the old one's late reports arrive in the same turns.
    const newer = [
      { type: 'CompleteRendition', data: { attempt: 2, height: 480, path: 'videos/video-2/480.mp4', bytes: 1 } },
      { type: 'Succeed', data: { attempt: 2 } },
    ];
    const older = Array.from({ length: 10 }, (_, k) => ({ type: 'ReportProgress', data: { attempt: 1, percent: 50 + k } }));
    const settled = await Promise.allSettled([...newer, ...older].map((c) => runtime.execute('video', id, c)));
    expect(settled.slice(0, 2).map((s) => s.status)).toEqual(['fulfilled', 'fulfilled']);
    for (const s of settled.slice(2)) {
      expect(s.status).toBe('rejected');
      const reason = (s as PromiseRejectedResult).reason as unknown;
      expect(RuntimeError.is(reason) ? reason.code : String(reason)).toMatch(/^(StaleAttempt|InvalidVideoStatus)$/);
    }
    await waitCaughtUp(runtime, views, 'videos');
    expect((await views.get<VideoRow>('videos', id)).row).toMatchObject({ status: 'SUCCEEDED', progress: 100, attempt: 2 });
    expect(await views.reconcile('videos')).toMatchObject({ drift: 0 });
  });
});
