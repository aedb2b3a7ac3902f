/**
 * The pipeline through HTTP, inside the real server (`buildServer` with the `/videos` plugin): upload ->
 * SUCCEEDED with renditions that decode, a corrupt upload -> FAILED once, the size cap, and the error
 * answers of every route.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VideoState } from '../../src/domain/index.js';
import { request } from '../support/raw-http.js';
import { makeTempDir, removeDir } from '../support/temp-dirs.js';
import { decodeErrors, makeClip, probe } from './support/media.js';
import { startVideoApp, statusTrail, uploadBytes, waitForStatus, type VideoApp } from './support/video-app.js';

const CAP = 2 * 1024 * 1024;
let dir: string;
let v: VideoApp;
let hd: Buffer;

beforeAll(async () => {
  dir = await makeTempDir('videos-http');
  hd = await readFile(await makeClip(dir, 'hd.mp4', { width: 1280, height: 720, seconds: 2 }));
  v = await startVideoApp(join(dir, 'data'), { server: 'buildServer', maxUploadBytes: CAP, maxJobs: 2 });
});

afterAll(async () => {
  await v?.close();
  await removeDir(dir);
});

describe('POST /videos -> SUCCEEDED', () => {
  let id: string;
  let state: VideoState;

  beforeAll(async () => {
    const up = await uploadBytes(v.app, hd);
    expect(up.status).toBe(202);
    expect(up.body).toMatchObject({ status: 'UPLOADED', bytes: hd.length });
    id = up.body.id as string;
    expect(id).toMatch(/^[A-Za-z0-9_.:-]{1,128}$/);
    expect(up.headers.location).toBe(`/videos/${id}`);
    state = await waitForStatus(v.runtime, id, ['SUCCEEDED', 'FAILED']);
  });

  it('goes UPLOADED -> PROCESSING -> SUCCEEDED with 240p, 360p and 720p renditions', async () => {
    expect(state.status).toBe('SUCCEEDED');
    const res = await v.app.inject({ url: `/videos/${id}` });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({ id, status: 'SUCCEEDED', progress: 100, attempt: 1, thumbnail: `/videos/${id}/thumbnail` });
    expect(body.renditions.map((r: { height: number; url: string }) => [r.height, r.url])).toEqual([240, 360, 720].map((h) => [h, `/videos/${id}/renditions/${h}`]));
    expect(body).not.toHaveProperty('error');
    expect(JSON.stringify(body)).not.toContain(v.dataDir);
  });

  it('GET /videos/:id/events lists the lifecycle in order, seqs 1..n', async () => {
    const res = await v.app.inject({ url: `/videos/${id}/events` });
    const events = res.json().events as Array<{ type: string; seq: number; data: Record<string, unknown> }>;
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
    expect(events[0]).toMatchObject({ type: 'VideoUploaded', data: { bytes: hd.length, contentType: 'application/octet-stream' } });
    expect(events[1]).toMatchObject({ type: 'VideoProcessingStarted', data: { attempt: 1 } });
    expect(events.filter((e) => e.type === 'RenditionCompleted').map((e) => e.data.height)).toEqual([240, 360, 720]);
    expect(events[events.length - 1]).toMatchObject({ type: 'VideoProcessingSucceeded' });
    expect(statusTrail(await v.runtime.history('video', id))).toContain('PROCESSING');
  });

  it('serves each rendition as an MP4 that decodes cleanly and has the height it claims', async () => {
    for (const h of [240, 360, 720]) {
      const res = await v.app.inject({ url: `/videos/${id}/renditions/${h}` });
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toBe('video/mp4');
      expect(res.headers['accept-ranges']).toBe('bytes');
      const file = join(dir, `out-${h}.mp4`);
      await writeFile(file, res.rawPayload);
      expect(res.rawPayload.length).toBe(state.renditions.find((r) => r.height === h)!.bytes);
      expect(await decodeErrors(file)).toBe('');
      expect((await probe(file)).streams.find((s) => s.codec_type === 'video')?.height).toBe(h);
    }
  });

  it('answers Range requests with 206 and Content-Range, and 416 past the end', async () => {
    const size = state.renditions.find((r) => r.height === 240)!.bytes;
    const whole = (await v.app.inject({ url: `/videos/${id}/renditions/240` })).rawPayload;
    const part = await v.app.inject({ url: `/videos/${id}/renditions/240`, headers: { range: 'bytes=100-199' } });
    expect(part.statusCode).toBe(206);
    expect(part.headers['content-range']).toBe(`bytes 100-199/${size}`);
    expect(part.headers['content-length']).toBe('100');
    expect(part.rawPayload).toEqual(whole.subarray(100, 200));
    const tail = await v.app.inject({ url: `/videos/${id}/renditions/240`, headers: { range: 'bytes=-10' } });
    expect(tail.rawPayload).toEqual(whole.subarray(size - 10));
    const past = await v.app.inject({ url: `/videos/${id}/renditions/240`, headers: { range: `bytes=${size}-` } });
    expect(past.statusCode).toBe(416);
    expect(past.headers['content-range']).toBe(`bytes */${size}`);
  });

  it('honours If-Range: a Range is used only while the validator still matches, else the whole file (200)', async () => {
    const url = `/videos/${id}/renditions/240`;
    const whole = await v.app.inject({ url });
    const etag = whole.headers.etag as string;
    const lastModified = whole.headers['last-modified'] as string;
    expect(etag).toMatch(/^"[0-9a-f]+-[0-9a-f]+"$/);
    for (const validator of [etag, lastModified]) {
      const same = await v.app.inject({ url, headers: { range: 'bytes=0-9', 'if-range': validator } });
      expect(same.statusCode).toBe(206);
      expect(same.rawPayload).toEqual(whole.rawPayload.subarray(0, 10));
    }
    for (const validator of ['"another-file"', `W/${etag}`, 'Tue, 01 Dec 2020 00:00:00 GMT', 'not a date']) {
      const changed = await v.app.inject({ url, headers: { range: 'bytes=0-9', 'if-range': validator } });
      expect(changed.statusCode).toBe(200);
      expect(changed.headers['content-range']).toBeUndefined();
      expect(changed.rawPayload).toEqual(whole.rawPayload);
    }
  });

  it('serves files with a fixed type and X-Content-Type-Options: nosniff', async () => {
    for (const [path, type] of [[`/videos/${id}/renditions/240`, 'video/mp4'], [`/videos/${id}/thumbnail`, 'image/jpeg']] as const) {
      const res = await v.app.inject({ url: path, headers: { range: 'bytes=0-0' } });
      expect(res.headers['content-type']).toBe(type);
      expect(res.headers['x-content-type-options']).toBe('nosniff');
    }
  });

  it('serves the thumbnail as a JPEG', async () => {
    const res = await v.app.inject({ url: `/videos/${id}/thumbnail` });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('image/jpeg');
    expect(res.rawPayload.subarray(0, 2)).toEqual(Buffer.from([0xff, 0xd8]));
  });

  it('GET /videos?status=SUCCEEDED lists it; a final video cannot be cancelled (409)', async () => {
    const list = (await v.app.inject({ url: '/videos?status=SUCCEEDED' })).json();
    expect(list.videos.map((x: { id: string }) => x.id)).toContain(id);
    const cancel = await v.app.inject({ method: 'POST', url: `/videos/${id}/cancel`, payload: {} });
    expect(cancel.statusCode).toBe(409);
    expect(cancel.json()).toMatchObject({ error: 'InvalidVideoStatus' });
  });

  it('refuses a cancel without content-type: application/json (a CORS simple request) with 415', async () => {
    for (const headers of [{}, { 'content-type': 'text/plain' }, { 'content-type': 'application/x-www-form-urlencoded' }]) {
      const res = await v.app.inject({ method: 'POST', url: `/videos/${id}/cancel`, headers, ...(Object.keys(headers).length ? { payload: 'reason=x' } : {}) });
      expect(res.statusCode).toBe(415);
      expect(res.json()).toMatchObject({ error: 'UnsupportedMediaType' });
    }
  });
});

describe('a corrupt upload', () => {
  it('ends FAILED with a reason, not retriable, after exactly one attempt', async () => {
    // 1.5 MiB: above the server's 1 MiB JSON body limit, so this also shows uploads stream past it.
    const up = await uploadBytes(v.app, randomBytes(1.5 * 1024 * 1024));
    expect(up.status).toBe(202);
    const id = up.body.id as string;
    const state = await waitForStatus(v.runtime, id, ['FAILED', 'SUCCEEDED']);
    expect(state.status).toBe('FAILED');
    expect(state.error).toMatchObject({ retriable: false, attempt: 1, reason: expect.stringMatching(/not a video file/) });
    await v.pipeline.idle();
    const types = (await v.runtime.history('video', id)).map((e) => e.type);
    expect(types).toEqual(['VideoUploaded', 'VideoProcessingStarted', 'VideoProcessingFailed']);
    expect((await v.app.inject({ url: `/videos/${id}` })).json()).toMatchObject({ status: 'FAILED', error: { retriable: false } });
    expect((await v.app.inject({ url: '/videos?status=FAILED' })).json().videos.map((x: { id: string }) => x.id)).toContain(id);
  });
});

describe('upload limits and bad requests', () => {
  const videoDirs = async (): Promise<string[]> => (existsSync(join(v.dataDir, 'videos')) ? readdir(join(v.dataDir, 'videos')) : []);

  it('a body over the cap gets 413 from its Content-Length, before anything is written', async () => {
    const before = await videoDirs();
    const up = await uploadBytes(v.app, Buffer.alloc(CAP + 1));
    expect(up.status).toBe(413);
    expect(up.body).toMatchObject({ error: 'PayloadTooLarge' });
    expect(await videoDirs()).toEqual(before);
  });

  it('a chunked body (no Content-Length) over the cap gets 413 and leaves nothing on disk', async () => {
    const before = await videoDirs();
    await v.app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = v.app.server.address() as AddressInfo;
    const chunk = randomBytes(256 * 1024);
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(c) {
        // Far more than the cap, so only the server's cap can end it.
        if (sent > CAP * 4) return c.close();
        sent += chunk.length;
        c.enqueue(chunk);
      },
    });
    const res = await fetch(`http://127.0.0.1:${port}/videos`, { method: 'POST', body, headers: { 'content-type': 'application/octet-stream' }, duplex: 'half' } as RequestInit);
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ error: 'PayloadTooLarge', message: `the upload exceeds the ${CAP}-byte limit` });
    expect(await videoDirs()).toEqual(before);
  });

  it.each([
    ['an empty body', Buffer.alloc(0), 'application/octet-stream', 400, 'InvalidCommand'],
    ['a JSON body', Buffer.from('{"path":"/etc/passwd"}'), 'application/json', 415, 'UnsupportedMediaType'],
    ['a multipart body', Buffer.from('--x\r\n\r\n--x--'), 'multipart/form-data; boundary=x', 415, 'UnsupportedMediaType'],
  ])('%s is refused (%i %s) and nothing is recorded', async (_name, payload, type, status, code) => {
    const before = await videoDirs();
    const up = await uploadBytes(v.app, payload, type);
    expect(up.status).toBe(status);
    expect(up.body).toMatchObject({ error: code });
    expect(await videoDirs()).toEqual(before);
  });

  it('an upload without a Content-Type is told to send application/octet-stream (415), not JSON', async () => {
    const before = await videoDirs();
    if (!v.app.server.listening) await v.app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = v.app.server.address() as AddressInfo;
    const res = await request(`http://127.0.0.1:${port}`, { method: 'POST', path: '/videos', body: Buffer.from('not sent as a video') });
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.status).toBe(415);
    expect(res.json()).toMatchObject({ error: 'UnsupportedMediaType', message: expect.stringContaining('application/octet-stream') });
    expect(res.json().message).not.toContain('application/json');
    expect(await videoDirs()).toEqual(before);
  });

  it('POST /videos/:id/cancel of a video that does not exist -> 404 StreamNotFound', async () => {
    const res = await v.app.inject({ method: 'POST', url: '/videos/v-nope/cancel', payload: {} });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchObject({ error: 'StreamNotFound' });
    expect(v.runtime.log.streamHead('video', 'v-nope').version).toBe(0);
  });

  it('an upload sent as video/mp4 is accepted too', async () => {
    const up = await uploadBytes(v.app, hd, 'video/mp4');
    expect(up.status).toBe(202);
    await v.pipeline.idle();
  });

  it.each([
    ['/videos/bad%20id', 400, 'InvalidId'],
    ['/videos/v-nope', 404, 'StreamNotFound'],
    ['/videos/v-nope/events', 404, 'StreamNotFound'],
    ['/videos/v-nope/renditions/240', 404, 'StreamNotFound'],
    ['/videos?status=DONE', 400, 'InvalidQuery'],
    ['/videos?limit=0', 400, 'InvalidQuery'],
  ])('GET %s -> %i %s', async (url, status, code) => {
    const res = await v.app.inject({ url });
    expect(res.statusCode).toBe(status);
    expect(res.json()).toMatchObject({ error: code, message: expect.any(String) });
  });

  it.each(['abc', '1.5', '-240', '0', '99999', '240p'])('GET /videos/:id/renditions/%s -> 400 (height must be an integer)', async (h) => {
    const up = (await v.app.inject({ url: '/videos?status=SUCCEEDED&limit=1' })).json();
    const id = up.videos[0].id as string;
    const res = await v.app.inject({ url: `/videos/${id}/renditions/${h}` });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: 'InvalidQuery' });
  });

  it('a rendition the video does not have -> 404 NotFound', async () => {
    const id = (await v.app.inject({ url: '/videos?status=SUCCEEDED&limit=1' })).json().videos[0].id as string;
    const res = await v.app.inject({ url: `/videos/${id}/renditions/1080` });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchObject({ error: 'NotFound' });
  });
});
