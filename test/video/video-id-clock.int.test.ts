/**
 * The pipeline reads wall-clock time through the `clock` option (kernel/clock.ts): a new video's id
 * starts with the time it was uploaded at (base36 ms, so listings read oldest first), and with a fake
 * clock that time is the one the test says.
 */
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { fakeClock } from '../support/fake-clock.js';
import { useTempDirs } from '../support/temp-dirs.js';
import { startVideoApp, type VideoApp } from './support/video-app.js';

const tempDir = useTempDirs('video-clock');
let v: VideoApp | undefined;
afterEach(async () => {
  await v?.close();
  v = undefined;
});

describe('a new video id', () => {
  it('carries the upload time read from the pipeline\'s clock, in order', async () => {
    const clock = fakeClock(Date.UTC(2040, 1, 29, 12));
    v = await startVideoApp(await tempDir(), { clock, maxAttempts: 1 });
    // Not a video: it is accepted, then fails its encode; only the id matters here.
    const first = await v.pipeline.upload(Readable.from([Buffer.from('not a video')]));
    clock.advance(-3_600_000); // a wall clock may step back; the id says what the clock said
    const second = await v.pipeline.upload(Readable.from([Buffer.from('not a video either')]));
    expect(first.id).toMatch(new RegExp(`^v-${Date.UTC(2040, 1, 29, 12).toString(36)}-[0-9a-f]{16}$`));
    expect(second.id.startsWith(`v-${(Date.UTC(2040, 1, 29, 12) - 3_600_000).toString(36)}-`)).toBe(true);
    await v.pipeline.idle();
  });
});
