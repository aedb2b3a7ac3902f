/**
 * The limits ffmpeg enforces itself, whatever the upload's header says (issue 11, item 4): crafted files
 * made by ffmpeg here, encoded by one in-process encode job with the real binaries.
 */
import { existsSync } from 'node:fs';
import { chmod, copyFile, mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runEncodeJob } from '../../src/video/encode-job.js';
import type { EncodeJobInput } from '../../src/video/encode-protocol.js';
import { resolveEncodeSettings, type EncodeSettings } from '../../src/video/media-policy.js';
import { makeTempDir as makeDir, removeDir } from '../support/temp-dirs.js';
import { binaries, ffmpegMake, gatedFfmpeg, isRunning, makeClip, makeLyingFlv, makeSizeSwitchingTs, probe, streamSeconds } from './support/media.js';

let clips: string;
const made: string[] = [];
const makeTempDir = async (label: string): Promise<string> => {
  const d = await makeDir(label);
  made.push(d);
  return d;
};
afterAll(async () => {
  await Promise.all(made.map(removeDir));
});
beforeAll(async () => {
  clips = await makeTempDir('limit-clips');
});

let n = 0;
async function job(source: string, settings: Partial<EncodeSettings> = {}, patch: Partial<EncodeJobInput> = {}): Promise<{ input: EncodeJobInput; dir: string }> {
  const dataDir = await makeTempDir('limits');
  const id = `v-limit-${++n}`;
  await mkdir(join(dataDir, 'videos', id), { recursive: true });
  await copyFile(source, join(dataDir, 'videos', id, 'source'));
  const input: EncodeJobInput = {
    videoId: id,
    attempt: 1,
    dataDir,
    sourcePath: `videos/${id}/source`,
    settings: resolveEncodeSettings({ preset: 'ultrafast', ...settings }),
    binaries,
    probeTimeoutMs: 30_000,
    ...patch,
  };
  return { input, dir: join(dataDir, 'videos', id, 'a1') };
}

describe('encode limits enforced by ffmpeg', () => {
  it('an FLV whose header says 1 s but whose stream lasts 60 s is encoded for the probed second plus the margin, not 60 s', async () => {
    const flv = await makeLyingFlv(clips, 'lying.flv', { width: 320, height: 240, seconds: 60, claimedSec: 1 });
    // The premise: ffprobe believes the header, and the stream really is 60 s long.
    expect(Number(((await probe(flv)) as unknown as { format: { duration: string } }).format.duration)).toBe(1);
    expect(await streamSeconds(flv)).toBeGreaterThan(59);
    const { input } = await job(flv);
    const out = await runEncodeJob(input);
    expect(out.kind).toBe('succeeded');
    if (out.kind !== 'succeeded') return;
    const seconds = await streamSeconds(join(input.dataDir, out.renditions[0]!.path));
    // encodeLimitSec(1) = 1 + 5 s of margin.
    expect(seconds).toBeLessThanOrEqual(6.1);
  });

  it('H.264 that switches from 320x240 to 1920x1920 mid-stream fails at the first big frame (-max_pixels), for good', async () => {
    const ts = await makeSizeSwitchingTs(clips, 'switch.ts', { from: [320, 240], to: [1920, 1920], head: 2 });
    const first = (await probe(ts)).streams.find((s) => s.codec_type === 'video');
    expect(first).toMatchObject({ width: 320, height: 240 });
    const { input, dir } = await job(ts, { maxPixels: 640 * 480 });
    const out = await runEncodeJob(input);
    expect(out).toEqual({
      kind: 'failed',
      reason: 'encoding the 240p rendition was stopped: a frame in the stream is larger than the 307200-pixel limit (the header said 320x240)',
      retriable: false,
    });
    expect(await readdir(dir)).toEqual([]);
  });

  it('a frame size over the limit in the header is refused before any encode', async () => {
    const big = await makeClip(clips, 'big.mp4', { width: 1280, height: 720, seconds: 1 });
    const { input } = await job(big, { maxPixels: 640 * 480 });
    expect(await runEncodeJob(input)).toEqual({ kind: 'failed', reason: 'the frame size 1280x720 exceeds the limit of 307200 pixels', retriable: false });
  });

  it('an attempt past its wall clock is stopped: ffmpeg killed, partial output deleted, a reason that names the limit', async () => {
    const gate = await gatedFfmpeg(await makeTempDir('gate'));
    const clip = await makeClip(clips, 'short.mp4', { width: 320, height: 240, seconds: 1 });
    // The gated ffmpeg never finishes an encode, so only the wall clock can end this job.
    const { input, dir } = await job(clip, { jobTimeoutBaseMs: 500, jobTimeoutPerVideoSecMs: 0 }, { binaries: { ...binaries, ffmpeg: gate.path } });
    const running = runEncodeJob(input);
    const pid = await gate.started();
    expect(await running).toEqual({
      kind: 'failed',
      reason: 'encoding the 240p rendition was stopped: the attempt took longer than its 1 s limit (0.5 s + 0 s per second of video)',
      retriable: false,
    });
    expect(await isRunning(pid)).toBe(false);
    expect(await readdir(dir)).toEqual([]);
  });

  // Runs wherever util-linux is (always on Debian); the pipeline refuses to start without prlimit while the limit is on.
  it.runIf(existsSync('/usr/bin/prlimit'))('each ffmpeg runs under the memory limit: a 4K source under 320 MiB fails, saying so', async () => {
    const uhd = join(clips, 'uhd.mp4');
    await ffmpegMake(['-f', 'lavfi', '-i', 'testsrc=duration=1:size=3840x2160:rate=25', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', uhd]);
    const { input } = await job(uhd, { maxMemoryBytes: 320 * 2 ** 20, ladder: [240] });
    expect(await runEncodeJob(input)).toEqual({ kind: 'failed', reason: 'encoding the 240p rendition failed: ffmpeg ran out of its 320 MiB memory limit', retriable: false });
  });

  it('a failure reason never shows a binary path, even when the binary itself dies (an ffprobe that segfaults)', async () => {
    const dir = await makeTempDir('segv');
    const segv = join(dir, 'ffprobe');
    await writeFile(segv, '#!/bin/sh\nkill -SEGV $$\n');
    await chmod(segv, 0o755);
    const clip = await makeClip(clips, 'any.mp4', { width: 320, height: 240, seconds: 1 });
    const { input } = await job(clip, {}, { binaries: { ...binaries, ffprobe: segv } });
    const out = await runEncodeJob(input);
    expect(out).toMatchObject({ kind: 'failed', retriable: false });
    if (out.kind !== 'failed') return;
    expect(out.reason).toMatch(/^not a video file ffprobe can read: /);
    expect(out.reason).not.toContain(dir);
    expect(out.reason).not.toMatch(/(^|\s)\//);
    expect(existsSync(segv)).toBe(true);
  });
});
