/**
 * Renditions and thumbnails over HTTP: validators (ETag, Last-Modified), conditional requests (304,
 * 412), ranges (206, 416, the ones to ignore) and If-Range, as RFC 9110 says. A video whose encode the
 * log already records as done (the pipeline's internal commands, sent in-process) points at files this
 * test writes, so no encode runs and the bytes are known.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEventide, type Eventide } from '../../src/app/index.js';
import { buildServer } from '../../src/server/index.js';
import { videoRoutes } from '../../src/server/routes/videos.js';
import { createVideoPipeline, VideoStorage, type VideoPipeline } from '../../src/video/index.js';
import { makeTempDir, removeDir } from '../support/temp-dirs.js';

const ID = 'v-files';
const SIZE = 10_000;
const url = `/videos/${ID}/renditions/240`;
let dir: string;
let eventide: Eventide;
let pipeline: VideoPipeline;
let app: FastifyInstance;
let mp4: Buffer;
let mp4Path: string;
let jpegPath: string;

beforeAll(async () => {
  dir = await makeTempDir('files-http');
  eventide = await createEventide({ dataDir: dir, partitions: 4, workers: 1 });
  const { runtime } = eventide;
  const storage = new VideoStorage(dir);
  const source = storage.sourcePath(ID);
  const rendition = storage.renditionPath(ID, 1, 240);
  const thumbnail = storage.thumbnailPath(ID, 1);
  mp4 = randomBytes(SIZE);
  mp4Path = join(dir, rendition);
  jpegPath = join(dir, thumbnail);
  await mkdir(dirname(mp4Path), { recursive: true });
  await writeFile(join(dir, source), 'not a video');
  await writeFile(mp4Path, mp4);
  await writeFile(jpegPath, Buffer.concat([Buffer.from([0xff, 0xd8]), randomBytes(998)]));
  await runtime.execute('video', ID, { type: 'Upload', data: { path: source, bytes: 11, sha256: 'a'.repeat(64) } });
  await runtime.execute('video', ID, { type: 'StartProcessing', data: { attempt: 1 } });
  await runtime.execute('video', ID, { type: 'CompleteRendition', data: { attempt: 1, height: 240, path: rendition, bytes: SIZE } });
  await runtime.execute('video', ID, { type: 'Succeed', data: { attempt: 1, thumbnail } });
  // Started after the video is done: the reactor finds nothing to encode.
  pipeline = await createVideoPipeline({ runtime });
  app = await buildServer({ runtime, views: eventide.views, plugins: [videoRoutes({ runtime, pipeline })], dashboard: false, defaultMetrics: false });
});

afterAll(async () => {
  await app?.close();
  await pipeline?.close();
  await eventide?.close();
  await removeDir(dir);
});

const get = (headers: Record<string, string> = {}, path = url, method: 'GET' | 'HEAD' = 'GET') => app.inject({ method, url: path, headers });

function expectWhole(res: LightMyRequestResponse, body = mp4): void {
  expect(res.statusCode).toBe(200);
  expect(res.headers['content-range']).toBeUndefined();
  expect(res.headers['content-length']).toBe(String(body.length));
  expect(res.rawPayload).toEqual(body);
}

function expectPart(res: LightMyRequestResponse, start: number, end: number): void {
  expect(res.statusCode).toBe(206);
  expect(res.headers['content-range']).toBe(`bytes ${start}-${end}/${SIZE}`);
  expect(res.headers['content-length']).toBe(String(end - start + 1));
  expect(res.rawPayload).toEqual(mp4.subarray(start, end + 1));
}

describe('validators on every file answer', () => {
  it('sends a strong ETag (size and mtime), the Last-Modified of the file, Accept-Ranges, and a private no-cache policy', async () => {
    const res = await get();
    expectWhole(res);
    const { size, mtime } = await stat(mp4Path);
    expect(res.headers.etag).toBe(`"${size.toString(16)}-${mtime.getTime().toString(16)}"`);
    expect(res.headers['last-modified']).toBe(mtime.toUTCString());
    expect(res.headers['accept-ranges']).toBe('bytes');
    expect(res.headers['cache-control']).toBe('private, no-cache');
    expect(res.headers['content-type']).toBe('video/mp4');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
  });

  it('answers HEAD with the headers of GET and no body, reading nothing', async () => {
    const res = await get({}, url, 'HEAD');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-length']).toBe(String(SIZE));
    expect(res.headers.etag).toBe((await get()).headers.etag);
    expect(res.rawPayload.length).toBe(0);
    const part = await get({ range: 'bytes=0-9' }, url, 'HEAD');
    expect(part.statusCode).toBe(206);
    expect(part.headers['content-range']).toBe(`bytes 0-9/${SIZE}`);
  });
});

describe('conditional requests', () => {
  it('If-None-Match with the current ETag (strong, weak, in a list, or *) -> 304 with the validators and no body', async () => {
    const { etag, 'last-modified': lastModified } = (await get()).headers as { etag: string; 'last-modified': string };
    for (const inm of [etag, `W/${etag}`, `"other", ${etag}`, '*']) {
      const res = await get({ 'if-none-match': inm });
      expect(res.statusCode, inm).toBe(304);
      expect(res.rawPayload.length).toBe(0);
      expect(res.headers.etag).toBe(etag);
      expect(res.headers['last-modified']).toBe(lastModified);
      expect(res.headers['content-type']).toBeUndefined();
      expect(res.headers['content-length']).toBeUndefined();
    }
  });

  it('If-None-Match with another ETag -> the whole file, even when If-Modified-Since would match (If-None-Match wins)', async () => {
    const { 'last-modified': lastModified } = (await get()).headers as { 'last-modified': string };
    expectWhole(await get({ 'if-none-match': '"0-0"' }));
    expectWhole(await get({ 'if-none-match': '"0-0"', 'if-modified-since': lastModified }));
  });

  it('If-Modified-Since at or after Last-Modified -> 304; before it -> 200', async () => {
    const { mtime } = await stat(mp4Path);
    expect((await get({ 'if-modified-since': mtime.toUTCString() })).statusCode).toBe(304);
    expect((await get({ 'if-modified-since': new Date(mtime.getTime() + 3_600_000).toUTCString() })).statusCode).toBe(304);
    expectWhole(await get({ 'if-modified-since': new Date(mtime.getTime() - 3_600_000).toUTCString() }));
  });

  it('a 304 takes precedence over a Range (the client has the file)', async () => {
    const { etag } = (await get()).headers as { etag: string };
    expect((await get({ 'if-none-match': etag, range: 'bytes=0-9' })).statusCode).toBe(304);
  });

  it('If-Match / If-Unmodified-Since that do not hold -> 412 PreconditionFailed in the JSON error shape; ones that hold -> 200', async () => {
    const { etag } = (await get()).headers as { etag: string };
    const { mtime } = await stat(mp4Path);
    expectWhole(await get({ 'if-match': etag }));
    for (const headers of [{ 'if-match': '"0-0"' }, { 'if-unmodified-since': new Date(mtime.getTime() - 3_600_000).toUTCString() }]) {
      const res = await get(headers);
      expect(res.statusCode).toBe(412);
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      expect(res.json()).toMatchObject({ error: 'PreconditionFailed', message: expect.any(String) });
    }
  });
});

describe('ranges (one range, RFC 9110)', () => {
  it.each([
    ['bytes=0-0', 0, 0],
    ['bytes=100-199', 100, 199],
    ['bytes=9990-', 9990, 9999],
    ['bytes=-10', 9990, 9999],
    ['bytes=9000-99999', 9000, 9999],
    // A suffix longer than the file is the whole file, as a 206 (send alone answers 416).
    ['bytes=-20000', 0, 9999],
  ])('%s -> 206 with bytes %i-%i', async (range, start, end) => {
    expectPart(await get({ range }), start, end);
  });

  it.each(['bytes=10000-', 'bytes=20000-30000', 'bytes=-0'])('%s -> 416 RangeNotSatisfiable with Content-Range: bytes */size', async (range) => {
    const res = await get({ range });
    expect(res.statusCode).toBe(416);
    expect(res.headers['content-range']).toBe(`bytes */${SIZE}`);
    expect(res.json()).toMatchObject({ error: 'RangeNotSatisfiable', size: SIZE });
  });

  // Malformed, several ranges, another unit: ignored, the whole file (send alone answers 416 to some).
  it.each(['bytes=5-3', 'bytes=0-1,5-6', 'items=0-1', 'bytes=-', 'bytes=abc', 'bytes=1-2x'])('%s is ignored: 200 with the whole file', async (range) => {
    expectWhole(await get({ range }));
  });
});

describe('If-Range', () => {
  it('uses the Range while the validator is the current ETag or exactly the Last-Modified date', async () => {
    const { etag, 'last-modified': lastModified } = (await get()).headers as { etag: string; 'last-modified': string };
    expectPart(await get({ range: 'bytes=0-9', 'if-range': etag }), 0, 9);
    expectPart(await get({ range: 'bytes=0-9', 'if-range': lastModified }), 0, 9);
  });

  it('sends the whole file for a stale or weak ETag, or any other date (send alone would use the Range for a later date)', async () => {
    const { etag, 'last-modified': lastModified } = (await get()).headers as { etag: string; 'last-modified': string };
    const later = new Date(Date.parse(lastModified) + 3_600_000).toUTCString();
    const earlier = new Date(Date.parse(lastModified) - 3_600_000).toUTCString();
    for (const validator of ['"0-0"', `W/${etag}`, later, earlier, 'not a date']) expectWhole(await get({ range: 'bytes=0-9', 'if-range': validator }));
  });

  it('after the file changes, a client resuming with the old ETag gets the whole new file, never a splice of the two', async () => {
    const old = (await get()).headers.etag as string;
    const next = randomBytes(SIZE);
    await writeFile(mp4Path, next);
    const { mtime } = await stat(mp4Path);
    await utimes(mp4Path, mtime, new Date(mtime.getTime() + 5000));
    try {
      const res = await get({ range: 'bytes=5000-', 'if-range': old });
      expectWhole(res, next);
      expect(res.headers.etag).not.toBe(old);
      expectWhole(await get({ 'if-none-match': old }), next);
    } finally {
      await writeFile(mp4Path, mp4);
    }
  });
});

describe('the thumbnail', () => {
  it('is a JPEG with the same validators and conditional answers', async () => {
    const path = `/videos/${ID}/thumbnail`;
    const res = await get({}, path);
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('image/jpeg');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.rawPayload.subarray(0, 2)).toEqual(Buffer.from([0xff, 0xd8]));
    expect((await get({ 'if-none-match': res.headers.etag as string }, path)).statusCode).toBe(304);
    const part = await get({ range: 'bytes=-2000' }, path);
    expect(part.statusCode).toBe(206);
    expect(part.headers['content-range']).toBe('bytes 0-999/1000');
  });

  it('a file the log names but the disk lost -> 404 NotFound in the JSON error shape', async () => {
    await unlink(jpegPath);
    const res = await get({}, `/videos/${ID}/thumbnail`);
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchObject({ error: 'NotFound', message: 'the file is missing from the video store' });
  });
});
