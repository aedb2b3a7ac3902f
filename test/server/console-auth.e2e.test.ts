/**
 * The console on a server with tokens (protected mode), in real headless Chromium: the page asks for a
 * token, keeps it in sessionStorage and sends it as `Authorization: Bearer`; an admin action without a
 * token, or with a token that lacks the admin scope, says so clearly; with an admin token it runs.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, openPage, screenshot, sendCommand } from '../support/console-browser.js';
import { harness, type Harness } from './helpers.js';

const READ = 'console-read-token-0123456789';
const ADMIN = 'console-admin-token-0123456789';
const WRITE = 'console-write-token-0123456789';

let h: Harness;
let browser: Browser;
let page: Page;
let problems: string[];

beforeAll(async () => {
  h = await harness({
    consoleStats: { intervalMs: 200 },
    security: {
      tokens: [
        { name: 'viewer', token: READ, scopes: ['read'] },
        { name: 'ops', token: ADMIN, scopes: ['admin'] },
        { name: 'app', token: WRITE, scopes: ['write'] },
      ],
    },
  });
  await h.listen();
  expect((await sendCommand(h.url, 'account', 'acc-console', { type: 'Open', data: { owner: 'Ada' } }, WRITE)).status).toBe(200);
  browser = await launchBrowser();
  ({ page, problems } = await openPage(browser));
});

afterAll(async () => {
  await browser?.close();
  await h?.close();
});

/**
 * Opens the token form (the button toggles it) and submits `value`. The form may open by itself between
 * a look and a click (a refused token's late 401 asks again): a click then closes it, so look again.
 */
async function pasteToken(p: Page, value: string): Promise<void> {
  for (let tries = 0; !(await p.locator('#auth').isVisible()); tries++) {
    if (tries === 5) throw new Error('the token form never opened');
    await p.click('#token-button');
    await p.locator('#auth').waitFor({ state: 'visible', timeout: 2000 }).catch(() => undefined);
  }
  await p.fill('#auth-token', value);
  await p.press('#auth-token', 'Enter');
}

describe('the admin tab on a server with tokens', () => {
  it('without a token: asks for one, and an admin action says it needs the admin scope', async () => {
    await page.goto(`${h.url}/#admin`);
    await page.locator('#auth').waitFor({ state: 'visible' });
    expect(await page.textContent('#conn')).toBe('offline');
    expect(await page.textContent('#token-state')).toBe('no token');
    await page.click('#admin-verify');
    await expect.poll(() => page.textContent('#admin-message')).toBe('Unauthorized: this needs a token with the admin scope. Paste one above.');
    expect(await page.locator('#verify-table').isVisible()).toBe(false);
    await screenshot(page, 'admin-no-token');
  });

  it('with a read token: the console follows the feed, and an admin action is refused as Forbidden', async () => {
    await pasteToken(page, READ);
    await expect.poll(() => page.textContent('#conn')).toBe('live');
    expect(await page.textContent('#token-state')).toBe('token set');
    expect(await page.evaluate("sessionStorage.getItem('eventide.token')")).toBe(READ);
    await page.click('#admin-reconcile');
    await expect.poll(() => page.textContent('#admin-message')).toBe('Forbidden: token "viewer" lacks the scope admin. Paste a token with the admin scope.');
    await page.click('#admin-rebuild');
    await expect.poll(() => page.textContent('#admin-message')).toContain('Forbidden');
    expect(await page.getAttribute('#rebuild-progress', 'data-state')).toBe('idle');
    await screenshot(page, 'admin-forbidden');
    // Reading works with it: the live tail shows the stream.
    await page.click('#nav-live');
    await page.locator('#events tr', { hasText: 'acc-console' }).waitFor();
  });

  it('with an admin token: verify and reconcile run, and the rebuild shows its progress', async () => {
    await page.click('#nav-admin');
    await pasteToken(page, ADMIN);
    await expect.poll(() => page.evaluate("sessionStorage.getItem('eventide.token')")).toBe(ADMIN);
    await page.click('#admin-verify');
    await expect.poll(() => page.textContent('#verify-summary')).toMatch(/^ok: 1 events in 4 partitions verified/);
    expect(await page.textContent('#admin-message')).toBe('');
    await page.selectOption('#admin-view', 'balances');
    await page.click('#admin-reconcile');
    await expect.poll(() => page.textContent('#reconcile-summary')).toBe('checked 1 rows · drift 0');
    await page.click('#admin-rebuild');
    await expect.poll(() => page.getAttribute('#rebuild-progress', 'data-state')).toBe('swapped');
    expect(await page.textContent('#rebuild-status')).toContain('rebuilt');
    await screenshot(page, 'admin-with-token');
  });

  it('a refused token is said so, and forgetting the token asks again', async () => {
    await pasteToken(page, 'not-a-token-at-all-000000');
    await expect.poll(() => page.textContent('#auth-error')).toBe('the server refused this token');
    await pasteToken(page, READ);
    await expect.poll(() => page.textContent('#conn')).toBe('live');
    // A good token pasted while the refused one's calls are still in flight wins: their late 401s
    // are about a token no longer in use and must not stop the feed the new one started.
    await pasteToken(page, 'not-a-token-either-0000000');
    await pasteToken(page, READ);
    await expect.poll(() => page.textContent('#conn')).toBe('live');
    await page.waitForTimeout(500); // the refused token's last answers arrive
    expect(await page.textContent('#conn')).toBe('live');
    expect(await page.locator('#auth').isVisible()).toBe(false);
    await page.click('#token-button');
    await page.click('#auth-forget');
    await expect.poll(() => page.evaluate("sessionStorage.getItem('eventide.token')")).toBe(null);
    await page.locator('#auth').waitFor({ state: 'visible' });
    expect(page.url()).not.toContain(READ);
    expect(problems, problems.join('\n')).toEqual([]);
  });
});
