/**
 * `client.videos` against the real server with the video pipeline (ffmpeg encodes), on a real socket:
 * upload a file stream, follow the video to SUCCEEDED on the feed (`type: 'video', stream: id`), read its
 * status, list and history, download each rendition (whole and a range) and the thumbnail with the
 * client; a non-media upload fails once; cancel while an encode is certainly running (a gated ffmpeg).
 */
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { createClient, EventideClientError, type EventideClient, type EventJson } from '../../src/client/index.js';
import { makeTempDir, removeDir } from '../support/temp-dirs.js';
import { binaries, gatedFfmpeg, makeClip } from '../video/support/media.js';
import { startVideoApp, type VideoApp } from '../video/support/video-app.js';

let dir: string;
const apps: VideoApp[] = [];
beforeAll(async () => {
  dir = await makeTempDir('client-videos');
});
afterAll(async () => {
  for (const app of apps) await app.close();
  await removeDir(dir);
});

/** A video app listening on 127.0.0.1, and a client for it. */
async function served(name: string, options: Parameters<typeof startVideoApp>[1] = {}): Promise<{ v: VideoApp; client: EventideClient }> {
  const v = await startVideoApp(join(dir, name), { server: 'buildServer', ...options });
  apps.push(v);
  await v.app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = v.app.server.address() as { port: number };
  return { v, client: createClient({ baseUrl: `http://127.0.0.1:${port}` }) };
}

/** The video's events on the feed until one of `types` arrives. */
async function eventsUntil(client: EventideClient, id: string, types: string[]): Promise<EventJson[]> {
  const feed = client.feed({ from: 'start', type: 'video', stream: id, WebSocket });
  const seen: EventJson[] = [];
  try {
    for await (const batch of feed) {
      seen.push(...batch.events);
      if (batch.events.some((e) => types.includes(e.type))) return seen;
    }
    throw new Error('the feed ended');
  } finally {
    await feed.close();
  }
}

describe('videos through the client', () => {
  let client: EventideClient;
  let clip: string;
  let id: string;

  beforeAll(async () => {
    ({ client } = await served('data'));
    clip = await makeClip(dir, 'clip.mp4', { width: 640, height: 360, seconds: 1 });
  });

  it('uploads a file stream and follows the video to SUCCEEDED on the feed', async () => {
    const up = await client.videos.upload(createReadStream(clip));
    expect(up).toMatchObject({ status: 'UPLOADED', bytes: (await readFile(clip)).length, sha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
    id = up.id;
    const events = await eventsUntil(client, id, ['VideoProcessingSucceeded', 'VideoProcessingFailed']);
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
    expect(events.at(-1)!.type).toBe('VideoProcessingSucceeded');
  });

  it('reads the status with its renditions and thumbnail, the list and the history', async () => {
    const video = await client.videos.get(id);
    expect(video).toMatchObject({ id, status: 'SUCCEEDED', progress: 100, attempt: 1, thumbnail: `/videos/${id}/thumbnail` });
    expect(video.renditions.map((r) => r.height)).toEqual([240, 360]);
    for (const r of video.renditions) expect(client.url(r.url)).toBe(client.videos.renditionUrl(id, r.height));
    expect((await client.videos.list({ status: 'SUCCEEDED' })).videos.map((v) => v.id)).toContain(id);
    const history = await client.videos.events(id, { limit: 2 });
    expect(history.events.map((e) => e.type)).toEqual(['VideoUploaded', 'VideoProcessingStarted']);
  });

  it('downloads each rendition (whole and a range) and the thumbnail', async () => {
    const video = await client.videos.get(id);
    for (const r of video.renditions) {
      const whole = await client.videos.download(client.videos.renditionUrl(id, r.height));
      expect(whole.headers.get('content-type')).toBe('video/mp4');
      const bytes = new Uint8Array(await whole.arrayBuffer());
      expect(bytes.length).toBe(r.bytes);
      const part = await client.videos.download(r.url, { range: 'bytes=0-99' });
      expect(part.status).toBe(206);
      expect(new Uint8Array(await part.arrayBuffer())).toEqual(bytes.subarray(0, 100));
    }
    const thumb = await client.videos.download(client.videos.thumbnailUrl(id));
    expect(thumb.headers.get('content-type')).toBe('image/jpeg');
    expect((await thumb.arrayBuffer()).byteLength).toBeGreaterThan(0);
  });

  it('throws the server errors by code: a missing rendition, a cancel of a finished video, a wrong content type', async () => {
    const missing = await client.videos.download(client.videos.renditionUrl(id, 1080)).catch((e: unknown) => e);
    expect(missing).toMatchObject({ code: 'NotFound', status: 404 });
    const late = await client.videos.cancel(id).catch((e: unknown) => e);
    expect(EventideClientError.is(late)).toBe(true);
    expect(late).toMatchObject({ status: 409 });
    const json = await client.videos.upload(new Blob(['{}']), { contentType: 'application/json' }).catch((e: unknown) => e);
    expect(json).toMatchObject({ code: 'UnsupportedMediaType', status: 415 });
    expect(await client.videos.get('nope').catch((e: unknown) => e)).toMatchObject({ code: 'StreamNotFound', status: 404 });
    expect(() => client.videos.download('http://elsewhere.example/videos/x/thumbnail')).toThrow(expect.objectContaining({ code: 'InvalidOptions' }));
  });

  it('uploads bytes that are not a video: the video fails once, not retriable', async () => {
    const up = await client.videos.upload(new Uint8Array(4096).fill(7));
    const events = await eventsUntil(client, up.id, ['VideoProcessingSucceeded', 'VideoProcessingFailed']);
    expect(events.at(-1)!.type).toBe('VideoProcessingFailed');
    expect(await client.videos.get(up.id)).toMatchObject({ status: 'FAILED', error: { retriable: false } });
  });
});

describe('cancelling through the client', () => {
  it('cancels a video while its encode runs', async () => {
    const gate = await gatedFfmpeg(dir);
    const { client } = await served('gated', { binaries: { ...binaries, ffmpeg: gate.path } });
    const clip = await makeClip(dir, 'short.mp4', { width: 320, height: 240, seconds: 1 });
    const { id } = await client.videos.upload(new Blob([await readFile(clip)]), { contentType: 'video/mp4' });
    await gate.started();
    expect(await client.videos.cancel(id, { reason: 'changed my mind' })).toMatchObject({ id, status: 'CANCELLED', error: { reason: 'changed my mind' } });
  });
});
