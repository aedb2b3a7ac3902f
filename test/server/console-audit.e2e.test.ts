/**
 * The console's audit log (Admin tab) in real headless Chromium against a real server with tokens: a
 * retention change made through the API shows as a `RetentionSet` row with its target and who asked; a
 * deletion made while the tab is open appears without a click (the live feed carries `$audit` events);
 * "Older" pages back; a token without the admin scope is told it needs one.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, openPage, screenshot, sendCommand } from '../support/console-browser.js';
import { harness, type Harness } from './helpers.js';

const ADMIN = 'console-admin-token-0123456789';
const WRITE = 'console-write-token-0123456789';

let h: Harness;
let browser: Browser;
let page: Page;
let problems: string[];

beforeAll(async () => {
  h = await harness({
    consoleStats: { intervalMs: 500 },
    security: {
      tokens: [
        { name: 'ops', token: ADMIN, scopes: ['admin'] },
        { name: 'app', token: WRITE, scopes: ['write'] },
      ],
      rateLimit: false,
    },
  });
  await h.listen();
  for (const id of ['acc-audit', 'acc-gone']) expect((await sendCommand(h.url, 'account', id, { type: 'Open', data: { owner: 'Ada' } }, WRITE)).status).toBe(200);
  browser = await launchBrowser();
  ({ page, problems } = await openPage(browser));
});

afterAll(async () => {
  await browser?.close();
  await h?.close();
});

async function admin(method: string, path: string, body: unknown): Promise<void> {
  const res = await fetch(`${h.url}${path}`, { method, headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  expect(res.status, await res.text()).toBe(200);
}

async function pasteToken(p: Page, value: string): Promise<void> {
  if (!(await p.locator('#auth').isVisible())) await p.click('#token-button');
  await p.fill('#auth-token', value);
  await p.press('#auth-token', 'Enter');
}

const cells = (p: Page, selector: string) => p.$$eval(`${selector} td`, (tds) => tds.map((td) => td.textContent));

describe('the audit log in the admin tab', () => {
  it('with a token that lacks the admin scope: says it needs one', async () => {
    await page.goto(`${h.url}/#admin`);
    await pasteToken(page, WRITE);
    await expect.poll(() => page.textContent('#audit-message')).toMatch(/^Forbidden: .*Paste a token with the admin scope\.$/);
    expect(await page.locator('#audit-records tr').count()).toBe(0);
  });

  it('shows a retention change made through the API: its kind, target, who asked and the settings', async () => {
    await admin('PUT', '/admin/retention/account/acc-audit', { settings: { maxCount: 10 } });
    await pasteToken(page, ADMIN);
    await expect.poll(() => page.locator('#audit-records tr[data-kind="RetentionSet"]').count()).toBe(1);
    const row = await cells(page, '#audit-records tr[data-kind="RetentionSet"]');
    expect(row[0]).toBe('1');
    expect(row[1]).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/);
    expect(row.slice(2, 5)).toEqual(['RetentionSet', 'account/acc-audit', 'ops']);
    expect(JSON.parse(row[5]!)).toEqual({ settings: { maxCount: 10 }, previous: null });
    expect(await page.getAttribute('#audit-records tr[data-kind="RetentionSet"] td.target a', 'href')).toBe('#streams/account/acc-audit');
    expect(await page.textContent('#audit-message')).toBe('');
    expect(await page.locator('#audit-empty').isVisible()).toBe(false);
    await screenshot(page, 'audit');
  });

  it('shows a deletion made while the tab is open, newest first, without a click', async () => {
    await expect.poll(() => page.textContent('#conn')).toBe('live');
    await admin('POST', '/admin/streams/account/acc-gone/delete', {});
    await expect.poll(() => page.$$eval('#audit-records tr', (trs) => trs.map((tr) => tr.getAttribute('data-kind')))).toEqual(['StreamDeleted', 'RetentionSet']);
    expect((await cells(page, '#audit-records tr[data-kind="StreamDeleted"]')).slice(2, 5)).toEqual(['StreamDeleted', 'account/acc-gone', 'ops']);
  });

  it('pages back with Older and returns with Newest (a page is 50 records)', async () => {
    // 50 more records (a page is 50): twelve of them type-wide.
    for (let i = 0; i < 50; i++) await h.runtime.setRetention(i < 12 ? { aggregateType: 'account' } : { aggregateType: 'account', id: 'acc-audit' }, { maxCount: 100 + i }, { by: 'script' });
    await page.click('#audit-refresh');
    await expect.poll(() => page.getAttribute('#audit-records tr:first-child', 'data-seq')).toBe('52');
    expect(await page.locator('#audit-records tr').count()).toBe(50);
    expect(await page.textContent('#audit-hint')).toBe('records 3–52 of 52 · newest first');
    expect((await cells(page, '#audit-records tr[data-seq="3"]')).slice(2, 5)).toEqual(['RetentionSet', 'account (every stream)', 'script']);
    await page.click('#audit-older');
    await expect.poll(() => page.$$eval('#audit-records tr', (trs) => trs.map((tr) => tr.getAttribute('data-seq')))).toEqual(['2', '1']);
    expect(await page.isDisabled('#audit-older')).toBe(true);
    await page.click('#audit-newest');
    await expect.poll(() => page.getAttribute('#audit-records tr:first-child', 'data-seq')).toBe('52');
    expect(problems).toEqual([]);
  });
});
