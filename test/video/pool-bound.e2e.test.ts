/**
 * Many uploads at once against a small pool: the pool never runs more encodes than its bound, and each
 * video's events stay in order (seqs contiguous, statuses never moving backwards), in the log and as
 * subscribers receive them.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VideoState } from '../../src/domain/index.js';
import { makeTempDir, removeDir } from '../support/temp-dirs.js';
import { makeClip } from './support/media.js';
import { neverBackwards, startVideoApp, statusTrail, uploadBytes, type VideoApp } from './support/video-app.js';

const BOUND = 2;
const UPLOADS = 7;
let dir: string;
let v: VideoApp;
let ids: string[];

beforeAll(async () => {
  dir = await makeTempDir('pool-bound');
  const clip = await readFile(await makeClip(dir, 'clip.mp4', { width: 320, height: 240, seconds: 1 }));
  v = await startVideoApp(join(dir, 'data'), { maxJobs: BOUND });
  const ups = await Promise.all(Array.from({ length: UPLOADS }, () => uploadBytes(v.app, clip)));
  expect(ups.map((u) => u.status)).toEqual(Array(UPLOADS).fill(202));
  ids = ups.map((u) => u.body.id as string);
  await v.pipeline.idle();
  // Seven uploads (each probed) and their encodes on a shared 2-core machine: a guard, not a speed claim.
}, 180_000);

afterAll(async () => {
  await v?.close();
  await removeDir(dir);
});

describe(`${UPLOADS} uploads at once with a pool bound of ${BOUND}`, () => {
  it('all succeed', async () => {
    for (const id of ids) expect((await v.runtime.load<VideoState>('video', id)).state.status).toBe('SUCCEEDED');
  });

  it('never had more encodes running than the bound (counted by the pool threads themselves)', () => {
    const s = v.pipeline.stats();
    expect(s.maxConcurrentJobs).toBeGreaterThanOrEqual(1);
    expect(s.maxConcurrentJobs).toBeLessThanOrEqual(BOUND);
    expect(s).toMatchObject({ running: 0, active: 0, waiting: 0, maxJobs: BOUND });
    expect(s.byStatus.SUCCEEDED).toBe(UPLOADS);
  });

  it('each video has one attempt, seqs 1..n, and statuses that never move backwards', async () => {
    for (const id of ids) {
      const events = await v.runtime.history('video', id);
      expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
      expect(events.filter((e) => e.type === 'VideoProcessingStarted')).toHaveLength(1);
      const trail = statusTrail(events);
      expect(trail[0]).toBe('UPLOADED');
      expect(trail[trail.length - 1]).toBe('SUCCEEDED');
      expect(neverBackwards(trail)).toBe(true);
    }
  });

  it('subscribers received each video\'s events exactly once and in seq order', () => {
    for (const id of ids) {
      const seen = v.events.filter((e) => e.stream === id).map((e) => e.seq);
      expect(seen).toEqual(seen.map((_, i) => i + 1));
    }
  });
});
