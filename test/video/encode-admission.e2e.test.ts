/**
 * Uploads beyond the encode queue's bound get 503 `Overloaded`, and uploads beyond a client's quota of
 * queued encode seconds get 429 `QuotaExceeded`, both with Retry-After and nothing recorded or stored.
 * The encodes are held by a gated ffmpeg (it never finishes), so the queue's content is certain.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { useTempDirs } from '../support/temp-dirs.js';
import { binaries, gatedFfmpeg, makeClip } from './support/media.js';
import { startVideoApp, waitForStatus, type VideoApp } from './support/video-app.js';

const tempDir = useTempDirs('admission');
let v: VideoApp | undefined;
afterEach(async () => {
  await v?.close();
  v = undefined;
});

async function upload(app: FastifyInstance, body: Buffer, remoteAddress = '127.0.0.1') {
  const res = await app.inject({ method: 'POST', url: '/videos', payload: body, headers: { 'content-type': 'video/mp4' }, remoteAddress });
  return { status: res.statusCode, body: res.json() as Record<string, unknown>, headers: res.headers };
}

async function gatedApp(options: { maxQueuedVideos?: number; maxQueuedSecondsPerClient?: number }): Promise<{ v: VideoApp; clip: Buffer; started: () => Promise<number> }> {
  const dir = await tempDir();
  const gate = await gatedFfmpeg(dir);
  const clip = await readFile(await makeClip(dir, 'clip.mp4', { width: 320, height: 240, seconds: 2 }));
  const app = await startVideoApp(join(dir, 'data'), { maxJobs: 1, binaries: { ...binaries, ffmpeg: gate.path }, ...options });
  return { v: app, clip, started: () => gate.started() };
}

const videoStreams = (app: VideoApp): string[] => [...app.runtime.log.iterateStreamIds('video')];
const storedVideos = async (app: VideoApp): Promise<string[]> => (await readdir(join(app.dataDir, 'videos')).catch(() => [] as string[])).sort();

describe('the encode queue', () => {
  it('is bounded: past maxQueuedVideos an upload gets 503 Overloaded with Retry-After, and nothing is kept', async () => {
    const g = await gatedApp({ maxQueuedVideos: 2 });
    v = g.v;
    const a = await upload(v.app, g.clip);
    const b = await upload(v.app, g.clip);
    expect([a.status, b.status]).toEqual([202, 202]);
    await g.started(); // a is encoding, b waits
    const c = await upload(v.app, g.clip);
    expect(c.status).toBe(503);
    expect(c.headers['retry-after']).toBe('30');
    expect(c.body).toMatchObject({ error: 'Overloaded', message: 'the encode queue is full (2 videos); try again later', retriable: true });
    expect(videoStreams(v).sort()).toEqual([a.body.id, b.body.id].sort());
    expect(await storedVideos(v)).toEqual([a.body.id, b.body.id].sort());
    expect(v.pipeline.stats()).toMatchObject({ queued: 2, maxQueuedVideos: 2 });

    // Once a video is done (here: cancelled), there is room again.
    await v.app.inject({ method: 'POST', url: `/videos/${String(a.body.id)}/cancel`, payload: {} });
    await waitForStatus(v.runtime, a.body.id as string, ['CANCELLED']);
    expect((await upload(v.app, g.clip)).status).toBe(202);
  });
});

describe('the quota of queued encode seconds per client', () => {
  it('refuses an upload that would pass it with 429 QuotaExceeded and Retry-After; other clients are not affected', async () => {
    // A 2 s clip counts 7 s (its duration plus the 5 s margin ffmpeg may read): two fit in 20 s, three do not.
    const g = await gatedApp({ maxQueuedSecondsPerClient: 20 });
    v = g.v;
    const first = await upload(v.app, g.clip, '10.0.0.1');
    const second = await upload(v.app, g.clip, '10.0.0.1');
    expect([first.status, second.status]).toEqual([202, 202]);
    const third = await upload(v.app, g.clip, '10.0.0.1');
    expect(third.status).toBe(429);
    expect(third.headers['retry-after']).toBe('60');
    expect(third.body).toMatchObject({ error: 'QuotaExceeded', limit: 20, retriable: true });
    // 2 x (2 s + 5 s), rounded up; AAC priming can make the probed duration a few ms over 2 s.
    expect(third.body.queuedSeconds).toBeGreaterThanOrEqual(14);
    expect(third.body.queuedSeconds).toBeLessThanOrEqual(15);
    expect(third.body.message).toMatch(/^this video adds [78] s of encoding to the 1[45] s you have queued; the limit per client is 20 s/);
    expect(videoStreams(v)).toHaveLength(2);
    expect(await storedVideos(v)).toHaveLength(2);

    expect((await upload(v.app, g.clip, '10.0.0.2')).status).toBe(202);

    await v.app.inject({ method: 'POST', url: `/videos/${String(first.body.id)}/cancel`, payload: {} });
    await waitForStatus(v.runtime, first.body.id as string, ['CANCELLED']);
    expect((await upload(v.app, g.clip, '10.0.0.1')).status).toBe(202);
  });
});
