/**
 * Every container the media policy accepts, end to end: a clip made here by ffmpeg in that container is
 * uploaded over HTTP and reaches SUCCEEDED with a decodable H.264 rendition; a container the policy does
 * not accept is refused cleanly (FAILED for good, with a reason and no server path). The list is the one
 * docs/http-api.md gives ("Accepted uploads").
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir, removeDir } from '../support/temp-dirs.js';
import { decodeErrors, ffmpegMake, probe } from './support/media.js';
import { startVideoApp, uploadBytes, waitForStatus, type VideoApp } from './support/video-app.js';

const SOURCE = ['-f', 'lavfi', '-i', 'testsrc=duration=1:size=320x240:rate=25', '-f', 'lavfi', '-i', 'sine=frequency=440:duration=1', '-shortest', '-pix_fmt', 'yuv420p'];
const H264 = ['-c:v', 'libx264', '-preset', 'ultrafast'];

/** name -> the ffmpeg output options that make a clip in that container (video and audio codecs vary too). */
const ACCEPTED: Record<string, string[]> = {
  'MP4 (H.264/AAC)': [...H264, '-c:a', 'aac', '-f', 'mp4'],
  'MOV (H.264/PCM)': [...H264, '-c:a', 'pcm_s16le', '-f', 'mov'],
  'Matroska (H.264/FLAC)': [...H264, '-c:a', 'flac', '-f', 'matroska'],
  'WebM (VP9/Opus)': ['-c:v', 'libvpx-vp9', '-deadline', 'realtime', '-cpu-used', '8', '-c:a', 'libopus', '-f', 'webm'],
  'MPEG-TS (H.264/MP2)': [...H264, '-c:a', 'mp2', '-f', 'mpegts'],
  'FLV (H.264/MP3)': [...H264, '-c:a', 'libmp3lame', '-f', 'flv'],
  'AVI (MPEG-4/MP3)': ['-c:v', 'mpeg4', '-c:a', 'libmp3lame', '-f', 'avi'],
};

const REFUSED: Record<string, string[]> = {
  'Ogg (Theora/Vorbis)': ['-c:v', 'libtheora', '-c:a', 'libvorbis', '-f', 'ogg'],
  'MPEG-PS (MPEG-2)': ['-c:v', 'mpeg2video', '-c:a', 'mp2', '-f', 'vob'],
  'animated GIF': ['-an', '-f', 'gif'],
};

let dir: string;
let v: VideoApp;
const files = new Map<string, Buffer>();

beforeAll(async () => {
  dir = await makeTempDir('containers');
  for (const [name, args] of Object.entries({ ...ACCEPTED, ...REFUSED })) {
    const out = join(dir, name.replace(/\W+/g, '-'));
    await ffmpegMake([...SOURCE, ...args, out]);
    files.set(name, await readFile(out));
  }
  v = await startVideoApp(join(dir, 'data'), { maxJobs: 2 });
});

afterAll(async () => {
  await v?.close();
  await removeDir(dir);
});

describe('every accepted container, uploaded over HTTP', () => {
  it.each(Object.keys(ACCEPTED))('%s reaches SUCCEEDED with a 240p H.264 rendition that decodes cleanly', async (name) => {
    const up = await uploadBytes(v.app, files.get(name)!);
    expect(up.status).toBe(202);
    const state = await waitForStatus(v.runtime, up.body.id as string, ['SUCCEEDED', 'FAILED', 'CANCELLED']);
    expect(state.error?.reason ?? '').toBe('');
    expect(state.status).toBe('SUCCEEDED');
    const file = v.pipeline.storage.absolute(up.body.id as string, state.renditions[0]!.path);
    expect((await probe(file)).streams.find((s) => s.codec_type === 'video')).toMatchObject({ codec_name: 'h264', height: 240 });
    expect(await decodeErrors(file)).toBe('');
  });
});

describe('containers the policy does not accept', () => {
  it.each(Object.keys(REFUSED))('%s is refused for good, with a reason that names no server path', async (name) => {
    const up = await uploadBytes(v.app, files.get(name)!);
    expect(up.status).toBe(202);
    const state = await waitForStatus(v.runtime, up.body.id as string, ['SUCCEEDED', 'FAILED', 'CANCELLED']);
    expect(state.status).toBe('FAILED');
    expect(state.error).toMatchObject({ retriable: false });
    expect(state.error!.reason).toMatch(/^(unsupported container|not a video file ffprobe can read)/);
    expect(state.error!.reason).not.toContain(dir);
    expect(state.error!.reason).not.toMatch(/(^|\s)\//);
  });
});
