/**
 * Cancel: POST /videos/:id/cancel while an encode is certainly running (the gated ffmpeg blocks inside
 * it) records VideoCancelled, kills that ffmpeg, and nothing more is recorded for the video.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir, removeDir } from '../support/temp-dirs.js';
import { binaries, gatedFfmpeg, isRunning, makeClip } from './support/media.js';
import { startVideoApp, uploadBytes, waitForEvent, type VideoApp } from './support/video-app.js';

let dir: string;
let v: VideoApp;

beforeAll(async () => {
  dir = await makeTempDir('cancel');
});

afterAll(async () => {
  await v?.close();
  await removeDir(dir);
});

describe('cancelling a running encode', () => {
  it('records VideoCancelled, kills ffmpeg, leaves no partial file and records nothing after', async () => {
    const gate = await gatedFfmpeg(dir);
    v = await startVideoApp(join(dir, 'data'), { binaries: { ...binaries, ffmpeg: gate.path } });
    const clip = await readFile(await makeClip(dir, 'clip.mp4', { width: 320, height: 240, seconds: 1 }));
    const id = (await uploadBytes(v.app, clip)).body.id as string;
    await waitForEvent(v.runtime, v.events, id, (e) => e.type === 'VideoProcessingStarted');
    const pid = await gate.started();
    expect(await isRunning(pid)).toBe(true);

    const res = await v.app.inject({ method: 'POST', url: `/videos/${id}/cancel`, payload: { reason: 'changed my mind' } });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ id, status: 'CANCELLED', error: { reason: 'changed my mind', retriable: false } });
    // The answer comes after the encode stopped.
    expect(await isRunning(pid)).toBe(false);
    expect(v.pipeline.stats()).toMatchObject({ running: 0, active: 0 });
    const attemptDir = join(v.dataDir, 'videos', id, 'a1');
    expect(existsSync(attemptDir) ? await readdir(attemptDir) : []).toEqual([]);

    await v.pipeline.idle();
    const types = (await v.runtime.history('video', id)).map((e) => e.type);
    expect(types).toEqual(['VideoUploaded', 'VideoProcessingStarted', 'VideoCancelled']);
    const again = await v.app.inject({ method: 'POST', url: `/videos/${id}/cancel`, payload: {} });
    expect(again.statusCode).toBe(409);
  });
});
