/**
 * The console's basics in real headless Chromium (playwright-core driving the Debian `chromium` package):
 * it connects to the feed, shows a command sent through the API, shows a video's status and progress
 * live (from the feed alone: this server has no video routes), renders hostile data as text, and shows
 * the partitions; on a server with tokens it asks for one and then works the same. The console's other
 * tabs: test/server/console-*.e2e.test.ts. Set DASHBOARD_SCREENSHOT=<file.png> to keep a screenshot.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, openPage } from '../support/console-browser.js';
import { harness, type Harness } from './helpers.js';

let h: Harness;
let browser: Browser;
let page: Page;
let problems: string[];

/** The video pipeline's commands are internal (not accepted over HTTP): sent in process, as the pipeline does. */
async function video(id: string, command: { type: string; data: unknown }): Promise<void> {
  await h.runtime.execute('video', id, command);
}

async function post(type: string, id: string, body: unknown): Promise<void> {
  const res = await fetch(`${h.url}/aggregates/${type}/${id}/commands`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  expect(res.status).toBe(200);
}

beforeAll(async () => {
  h = await harness();
  await h.listen();
  browser = await launchBrowser();
  ({ page, problems } = await openPage(browser, { width: 1280, height: 860 }));
});

afterAll(async () => {
  await browser?.close();
  await h?.close();
});

describe('the dashboard page', () => {
  it('connects to the feed and shows a command sent through the API', async () => {
    await page.goto(h.url);
    await expect.poll(() => page.textContent('#conn')).toBe('live');
    await post('account', 'acc-browser', { type: 'Open', data: { owner: 'Ada' } });
    await page.locator('#events tr', { hasText: 'AccountOpened' }).waitFor();
    expect(await page.locator('#events tr').first().textContent()).toContain('account/acc-browser');
  });

  it('shows videos with their status and a progress bar, live', async () => {
    await page.click('#nav-videos');
    await video('vid-demo', { type: 'Upload', data: { path: 'uploads/vid-demo', bytes: 1000, sha256: 'd'.repeat(64) } });
    const card = page.locator('.video[data-id="vid-demo"]');
    await expect.poll(() => card.locator('.badge').textContent()).toBe('UPLOADED');
    await video('vid-demo', { type: 'StartProcessing', data: { attempt: 1 } });
    await video('vid-demo', { type: 'ReportProgress', data: { attempt: 1, percent: 40 } });
    await expect.poll(() => card.locator('.badge').textContent()).toBe('PROCESSING');
    await expect.poll(() => card.locator('.progress').textContent()).toBe('40%');
    expect(await card.locator('[role=progressbar]').getAttribute('aria-valuenow')).toBe('40');
  });

  it('renders hostile data as text, never as markup', async () => {
    await page.click('#nav-live');
    const owner = '<img src=x onerror="document.title=\'owned\'">';
    await post('account', 'acc-xss', { type: 'Open', data: { owner } });
    await page.locator('#events tr', { hasText: 'acc-xss' }).waitFor();
    expect(await page.locator('#events img').count()).toBe(0);
    expect(await page.locator('#events tr', { hasText: 'acc-xss' }).textContent()).toContain('<img src=x');
    expect(await page.title()).not.toBe('owned');
  });

  it('shows per-partition offsets and keeps the console clean', async () => {
    await page.click('#nav-lag');
    await expect.poll(() => page.locator('#partitions tr').count()).toBe(4);
    const total = h.runtime.partitions().reduce((n, p) => n + p.offset, 0);
    await expect.poll(() => page.textContent('#partition-summary')).toContain(`${total} events`);
    expect(problems).toEqual([]);
  });

  it('takes a screenshot when asked', async () => {
    const file = process.env.DASHBOARD_SCREENSHOT;
    if (!file) return;
    for (const [id, steps] of [
      ['vid-encoded', 100],
      ['vid-failed', 30],
      ['vid-queued', 0],
    ] as const) {
      await video(id, { type: 'Upload', data: { path: `uploads/${id}`, bytes: 2_000_000, sha256: 'e'.repeat(64) } });
      if (steps === 0) continue;
      await video(id, { type: 'StartProcessing', data: { attempt: 1 } });
      await video(id, { type: 'ReportProgress', data: { attempt: 1, percent: steps === 100 ? 90 : steps } });
      if (steps === 100) {
        await video(id, { type: 'CompleteRendition', data: { attempt: 1, height: 360, path: `renditions/${id}/360.mp4`, bytes: 1000 } });
        await video(id, { type: 'CompleteRendition', data: { attempt: 1, height: 720, path: `renditions/${id}/720.mp4`, bytes: 3000 } });
        await video(id, { type: 'Succeed', data: { attempt: 1 } });
      } else {
        await video(id, { type: 'Fail', data: { attempt: 1, reason: 'ffprobe: unsupported codec', retriable: false } });
      }
    }
    for (let i = 0; i < 3; i++) await post('account', 'acc-browser', { type: 'Deposit', data: { amount: 1000 * (i + 1) } });
    await page.click('#nav-videos');
    await expect.poll(() => page.locator('.video').count()).toBe(4);
    await page.waitForTimeout(2500); // the row animation
    await page.screenshot({ path: file, fullPage: true });
  });
});

describe('the dashboard on a server with tokens', () => {
  const READ = 'dashboard-read-token-0123456789';
  const WRITE = 'dashboard-write-token-0123456789';
  let secured: Harness;
  let securedPage: Page;
  let pageErrors: string[] = [];

  beforeAll(async () => {
    secured = await harness({ security: { tokens: [{ name: 'viewer', token: READ, scopes: ['read'] }, { name: 'writer', token: WRITE, scopes: ['write'] }] } });
    await secured.listen();
    ({ page: securedPage, problems: pageErrors } = await openPage(browser, { width: 1280, height: 860 }));
  });
  afterAll(async () => {
    await securedPage?.close();
    await secured?.close();
  });

  it('asks for a token, refuses a wrong one, then follows the feed with a right one', async () => {
    await securedPage.goto(secured.url);
    await securedPage.locator('#auth').waitFor({ state: 'visible' });
    expect(await securedPage.textContent('#conn')).toBe('offline');

    await securedPage.fill('#auth-token', 'not-the-token-0000000000');
    await securedPage.press('#auth-token', 'Enter');
    await expect.poll(() => securedPage.textContent('#auth-error')).toBe('the server refused this token');
    await securedPage.locator('#auth').waitFor({ state: 'visible' });

    await securedPage.fill('#auth-token', READ);
    await securedPage.click('#auth button');
    await expect.poll(() => securedPage.textContent('#conn')).toBe('live');
    expect(await securedPage.locator('#auth').isVisible()).toBe(false);

    const res = await fetch(`${secured.url}/aggregates/account/acc-secured/commands`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${WRITE}` },
      body: JSON.stringify({ type: 'Open', data: { owner: 'Grace' } }),
    });
    expect(res.status).toBe(200);
    await securedPage.locator('#events tr', { hasText: 'acc-secured' }).waitFor();
    await securedPage.click('#nav-lag');
    await expect.poll(() => securedPage.locator('#partitions tr').count()).toBe(4);
  });

  it('keeps the token for the tab (sessionStorage), never in the URL', async () => {
    expect(await securedPage.evaluate("sessionStorage.getItem('eventide.token')")).toBe(READ);
    await securedPage.reload();
    await expect.poll(() => securedPage.textContent('#conn')).toBe('live');
    expect(await securedPage.locator('#auth').isVisible()).toBe(false);
    expect(securedPage.url()).not.toContain(READ);
    expect(pageErrors).toEqual([]);
  });
});
