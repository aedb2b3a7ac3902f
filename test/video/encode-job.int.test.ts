/**
 * One encode attempt, run in-process (no pool, no log): what it produces from a real clip, and how it
 * refuses inputs that are not allow-listed media.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runEncodeJob } from '../../src/video/encode-job.js';
import type { EncodeJobInput } from '../../src/video/encode-protocol.js';
import { resolveEncodeSettings } from '../../src/video/media-policy.js';
import { makeTempDir as makeDir, removeDir } from '../support/temp-dirs.js';
import { binaries, decodeErrors, gatedFfmpeg, isRunning, makeClip, probe } from './support/media.js';

let clips: string;
let hd: string;
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
  clips = await makeTempDir('clips');
  hd = await makeClip(clips, 'hd.mp4', { width: 1280, height: 720, seconds: 2 });
});

let n = 0;
async function job(source: string | Buffer, patch: Partial<EncodeJobInput> = {}): Promise<{ input: EncodeJobInput; dir: string }> {
  const dataDir = await makeTempDir('encode');
  const id = `v-test-${++n}`;
  await mkdir(join(dataDir, 'videos', id), { recursive: true });
  const dest = join(dataDir, 'videos', id, 'source');
  if (typeof source === 'string') await copyFile(source, dest);
  else await writeFile(dest, source);
  const input: EncodeJobInput = { videoId: id, attempt: 1, dataDir, sourcePath: `videos/${id}/source`, settings: resolveEncodeSettings({ preset: 'ultrafast' }), binaries, probeTimeoutMs: 30_000, ...patch };
  return { input, dir: join(dataDir, 'videos', id, 'a1') };
}

describe('an encode job', () => {
  it('turns a 720p clip into 240p, 360p and 720p H.264/AAC MP4s that decode cleanly, plus a thumbnail', async () => {
    const { input, dir } = await job(hd);
    const progress: number[] = [];
    const reported: number[] = [];
    const trail: string[] = [];
    const out = await runEncodeJob(input, {
      onProgress: (p) => {
        progress.push(p);
        trail.push(`${p}%`);
      },
      onRendition: (r) => {
        reported.push(r.height);
        trail.push(`${r.height}p`);
      },
      progressStep: 1,
      progressIntervalMs: 0,
    });
    expect(out.kind).toBe('succeeded');
    if (out.kind !== 'succeeded') return;
    expect(out.renditions.map((r) => r.height)).toEqual([240, 360, 720]);
    expect(reported).toEqual([240, 360, 720]);
    for (const r of out.renditions) {
      const file = join(input.dataDir, r.path);
      expect((await stat(file)).size).toBe(r.bytes);
      expect(await decodeErrors(file)).toBe('');
      const p = await probe(file);
      expect(p.format.format_name).toContain('mp4');
      const v = p.streams.find((s) => s.codec_type === 'video');
      const a = p.streams.find((s) => s.codec_type === 'audio');
      expect(v).toMatchObject({ codec_name: 'h264', height: r.height });
      expect(a).toMatchObject({ codec_name: 'aac' });
    }
    expect(out.thumbnail).toBe(`videos/${input.videoId}/a1/thumb.jpg`);
    expect((await probe(join(input.dataDir, out.thumbnail!))).streams[0]).toMatchObject({ codec_name: 'mjpeg', height: 360 });
    // Progress only goes up and stays below 100 (100 is the success event's).
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
    expect(new Set(progress).size).toBe(progress.length);
    expect(Math.max(...progress)).toBeLessThanOrEqual(99);
    // 99 % is only said once the last rendition is written, never while it still encodes; and the
    // 720p rendition, the costliest, is more than a third of the way.
    const lastRendition = trail.indexOf('720p');
    expect(trail.slice(0, lastRendition).filter((t) => t.endsWith('%')).map((t) => parseInt(t, 10)).every((p) => p < 99)).toBe(true);
    expect(trail.indexOf('360p')).toBeGreaterThan(-1);
    expect(Math.max(...trail.slice(0, trail.indexOf('360p') + 1).filter((t) => t.endsWith('%')).map((t) => parseInt(t, 10)))).toBeLessThan(66);
    // No temporary file is left, and nothing but the outputs.
    expect((await readdir(dir)).sort()).toEqual(['240p.mp4', '360p.mp4', '720p.mp4', 'thumb.jpg']);
  });

  it('a 320x240 clip gets only the 240p rendition', async () => {
    const small = await makeClip(clips, 'small.mp4', { width: 320, height: 240, seconds: 1 });
    const { input } = await job(small);
    const out = await runEncodeJob(input);
    expect(out.kind === 'succeeded' && out.renditions.map((r) => r.height)).toEqual([240]);
  });

  it('random bytes fail for good (retriable: false) with a reason that names no server path', async () => {
    const { input, dir } = await job(randomBytes(64 * 1024));
    const out = await runEncodeJob(input);
    expect(out).toMatchObject({ kind: 'failed', retriable: false });
    if (out.kind !== 'failed') return;
    expect(out.reason).toMatch(/not a video file ffprobe can read: .*Invalid data/);
    expect(out.reason).not.toContain(input.dataDir);
    expect(await readdir(dir)).toEqual([]);
  });

  it('a playlist pointing at local files is never followed: refused before any encode', async () => {
    const playlist = '#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n';
    const { input } = await job(Buffer.from(playlist));
    expect(await runEncodeJob(input)).toMatchObject({ kind: 'failed', retriable: false });
  });

  it('an audio-only file is refused (no video stream)', async () => {
    const dataDir = await makeTempDir('wav');
    const wav = join(dataDir, 'tone.mkv');
    const { execFileSync } = await import('node:child_process');
    execFileSync(binaries.ffmpeg, ['-v', 'error', '-f', 'lavfi', '-i', 'sine=duration=1', '-c:a', 'flac', wav]);
    const { input } = await job(wav);
    expect(await runEncodeJob(input)).toEqual({ kind: 'failed', reason: 'the file has no video stream', retriable: false });
  });

  it('a source path the server did not make is never opened', async () => {
    const { input } = await job(hd, {});
    const out = await runEncodeJob({ ...input, sourcePath: `videos/${input.videoId}/a1/240p.mp4` });
    expect(out).toMatchObject({ kind: 'failed', retriable: false, reason: expect.stringMatching(/not stored by this server/) });
  });

  it('cancelling kills the running ffmpeg, removes the partial output and reports cancelled', async () => {
    const gate = await gatedFfmpeg(await makeTempDir('gate'));
    const { input, dir } = await job(hd, { binaries: { ...binaries, ffmpeg: gate.path } });
    const abort = new AbortController();
    const running = runEncodeJob(input, { signal: abort.signal });
    const pid = await gate.started();
    expect(existsSync(join(dir, '240p.mp4.partial'))).toBe(true);
    abort.abort();
    expect(await running).toEqual({ kind: 'cancelled' });
    expect(await isRunning(pid)).toBe(false);
    expect(await readdir(dir)).toEqual([]);
  });
});
