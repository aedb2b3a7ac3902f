/**
 * The console's videos tab in real headless Chromium against a real server with the real video pipeline:
 * a clip made by ffmpeg is uploaded over HTTP and encoded for real (two small renditions, to keep it
 * quick); the page shows its thumbnail and its rendition links, and plays one in a <video> element. On
 * a server with tokens the same works through blob: URLs fetched with the token. Screenshots go to
 * artifacts/console/.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEventide } from '../../src/app/index.js';
import { buildServer, type SecurityOptions } from '../../src/server/index.js';
import { videoRoutes } from '../../src/server/routes/videos.js';
import { createVideoPipeline, type VideoPipeline } from '../../src/video/index.js';
import type { Runtime } from '../../src/runtime/index.js';
import { launchBrowser, openPage, screenshot } from '../support/console-browser.js';
import { makeClip } from '../video/support/media.js';
import { waitForStatus } from '../video/support/video-app.js';
import { tempDir } from './helpers.js';

interface VideoServer {
  url: string;
  runtime: Runtime;
  close(): Promise<void>;
}

async function startVideoServer(dataDir: string, security?: SecurityOptions): Promise<VideoServer> {
  const eventide = await createEventide({ dataDir, partitions: 4, workers: 1 });
  const { runtime, views } = eventide;
  const pipeline: VideoPipeline = await createVideoPipeline({ runtime, encode: { preset: 'ultrafast', ladder: [240, 360] }, retryDelayMs: 0, maxJobs: 1 });
  const app: FastifyInstance = await buildServer({ runtime, views, plugins: [videoRoutes({ runtime, pipeline })], defaultMetrics: false, ...(security ? { security } : {}) });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  if (typeof address !== 'object' || address === null) throw new Error('no address');
  return {
    url: `http://127.0.0.1:${address.port}`,
    runtime,
    async close() {
      await app.close();
      await pipeline.close();
      await eventide.close();
    },
  };
}

/** Uploads the clip over HTTP and waits for the encode to finish (driven by committed events). */
async function uploadAndEncode(server: VideoServer, clip: Buffer, token?: string): Promise<string> {
  const res = await fetch(`${server.url}/videos`, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: clip,
  });
  expect(res.status).toBe(202);
  const { id } = (await res.json()) as { id: string };
  const state = await waitForStatus(server.runtime, id, ['SUCCEEDED', 'FAILED']);
  expect(state.status).toBe('SUCCEEDED');
  return id;
}

/** The player's element once it has loaded the rendition's metadata. */
async function playerLoaded(page: Page): Promise<{ src: string; height: number; duration: number }> {
  // Polled with evaluate (a CDP call), not waitForFunction: its string predicate is an eval, which the
  // console's CSP (script-src 'self') refuses once the predicate has to poll.
  await expect.poll(() => page.locator('#player-video').evaluate((v) => v.readyState as number), { timeout: 60_000 }).toBeGreaterThanOrEqual(1);
  return page.locator('#player-video').evaluate((v) => ({ src: v.currentSrc as string, height: v.videoHeight as number, duration: v.duration as number }));
}

async function thumbnailLoaded(page: Page, id: string): Promise<{ src: string; width: number }> {
  const img = page.locator(`.video[data-id="${id}"] img`);
  await img.waitFor();
  await expect.poll(() => img.evaluate((node) => node.complete && node.naturalWidth > 0)).toBe(true);
  return img.evaluate((node) => ({ src: node.src as string, width: node.naturalWidth as number }));
}

let dir: ReturnType<typeof tempDir>;
let clip: Buffer;
let browser: Browser;

beforeAll(async () => {
  dir = tempDir('eventide-console-videos-');
  clip = await readFile(await makeClip(dir.dir, 'clip.mp4', { width: 640, height: 360, seconds: 1 }));
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  dir?.remove();
});

describe('the videos tab', () => {
  let server: VideoServer;
  let id: string;
  beforeAll(async () => {
    server = await startVideoServer(join(dir.dir, 'open'));
    id = await uploadAndEncode(server, clip);
  });
  afterAll(async () => server?.close());

  it('shows a video with its thumbnail, its rendition links, and plays one', async () => {
    const { page, problems } = await openPage(browser);
    await page.goto(`${server.url}/#videos`);
    const card = page.locator(`.video[data-id="${id}"]`);
    await expect.poll(() => card.locator('.badge').textContent()).toBe('SUCCEEDED');
    const thumb = await thumbnailLoaded(page, id);
    expect(thumb.src).toBe(`${server.url}/videos/${id}/thumbnail`);
    await expect.poll(() => card.locator('a.rendition').allTextContents()).toEqual(['240p', '360p']);
    expect(await card.locator('a.rendition').first().getAttribute('href')).toBe(`/videos/${id}/renditions/240`);

    await card.locator('a.rendition', { hasText: '360p' }).click();
    await page.locator('#player').waitFor();
    const played = await playerLoaded(page);
    expect(played.src).toBe(`${server.url}/videos/${id}/renditions/360`);
    expect(played.height).toBe(360);
    expect(played.duration).toBeGreaterThan(0.5);
    expect(await page.textContent('#player-title')).toBe(`${id} · 360p`);
    await screenshot(page, 'videos');
    expect(problems).toEqual([]);
    await page.close();
  });
});

describe('the videos tab on a server with tokens', () => {
  const READ = 'console-video-read-0123456789';
  const WRITE = 'console-video-write-0123456789';
  let server: VideoServer;
  let id: string;
  beforeAll(async () => {
    server = await startVideoServer(join(dir.dir, 'protected'), {
      tokens: [
        { name: 'viewer', token: READ, scopes: ['read'] },
        { name: 'uploader', token: WRITE, scopes: ['write:video'] },
      ],
    });
    id = await uploadAndEncode(server, clip, WRITE);
  });
  afterAll(async () => server?.close());

  it('fetches the thumbnail and the rendition with the token and shows them from blob: URLs', async () => {
    const { page, problems } = await openPage(browser);
    await page.goto(`${server.url}/#videos`);
    await page.locator('#auth').waitFor({ state: 'visible' });
    await page.fill('#auth-token', READ);
    await page.press('#auth-token', 'Enter');
    const card = page.locator(`.video[data-id="${id}"]`);
    await expect.poll(() => card.locator('.badge').textContent()).toBe('SUCCEEDED');
    expect((await thumbnailLoaded(page, id)).src).toMatch(/^blob:/);
    await card.locator('a.rendition', { hasText: '240p' }).click();
    const played = await playerLoaded(page);
    expect(played.src).toMatch(/^blob:/);
    expect(played.height).toBe(240);
    expect(problems).toEqual([]);
    await page.close();
  });
});
