/**
 * The console's operations tabs in real headless Chromium against a real server: lag per partition for
 * the feed and each read model, throughput and lag charts (uPlot, served by the server) fed by
 * GET /console/stats, the rows of each read model, and the admin actions (reconcile with its mismatches,
 * repair, rebuild with its progress, verify, backup). Screenshots go to artifacts/console/.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, openPage, screenshot, sendCommand } from '../support/console-browser.js';
import { harness, tempDir, type Harness } from './helpers.js';

let h: Harness;
let backups: ReturnType<typeof tempDir>;
let browser: Browser;
let page: Page;
let problems: string[];

beforeAll(async () => {
  backups = tempDir('eventide-console-backups-');
  h = await harness({ consoleStats: { intervalMs: 200 }, backupDir: backups.dir });
  await h.listen();
  // 60 accounts (more than a page of rows), a few deposits each.
  await Promise.all(Array.from({ length: 60 }, (_, i) => h.runtime.execute('account', `acc-${String(i).padStart(2, '0')}`, { type: 'Open', data: { owner: `owner ${i}` } })));
  for (let round = 1; round <= 3; round++) {
    await Promise.all(Array.from({ length: 60 }, (_, i) => h.runtime.execute('account', `acc-${String(i).padStart(2, '0')}`, { type: 'Deposit', data: { amount: round * 10 } })));
  }
  browser = await launchBrowser();
  ({ page, problems } = await openPage(browser));
});

afterAll(async () => {
  await browser?.close();
  await h?.close();
  backups?.remove();
});

describe('the lag tab', () => {
  it('shows each partition with its events, the feed lag and every read model\'s lag', async () => {
    await page.goto(`${h.url}/#lag`);
    await expect.poll(() => page.locator('#partitions tr').count()).toBe(4);
    expect(await page.$$eval('#partitions-head th', (ths) => ths.map((th) => th.textContent))).toEqual(['partition', 'worker', 'events', 'feed lag', 'balances lag', 'videos lag', 'status']);
    const heads = h.runtime.partitions();
    for (const p of heads) {
      const cells = await page.$$eval(`#partitions tr[data-partition="${p.partition}"] td`, (tds) => tds.map((td) => td.textContent));
      expect(cells[0]).toBe(`p${p.partition}`);
      expect(cells[2]).toBe(p.offset.toLocaleString('en-US'));
      expect(cells.at(-1)).toBe('ok');
    }
    const total = heads.reduce((n, p) => n + p.offset, 0);
    await expect.poll(() => page.textContent('#partition-summary')).toContain(`${total} events · 4 partitions`);
  });

  it('draws throughput and lag over time with uPlot, from the server\'s samples', async () => {
    await expect.poll(() => page.locator('#chart-throughput canvas').count()).toBe(1);
    expect(await page.locator('#chart-lag canvas').count()).toBe(1);
    await expect.poll(async () => Number(await page.getAttribute('#chart-throughput', 'data-points'))).toBeGreaterThanOrEqual(3);
    // Traffic while the tab is open shows as throughput.
    for (let i = 0; i < 20; i++) await sendCommand(h.url, 'account', 'acc-00', { type: 'Deposit', data: { amount: 1 } });
    await expect.poll(async () => Number(await page.getAttribute('#chart-throughput', 'data-max'))).toBeGreaterThan(0);
    expect(await page.$$eval('#chart-lag .u-legend .u-series th', (ths) => ths.map((th) => th.textContent?.trim()))).toEqual(['Time', 'feed', 'balances', 'videos']);
    expect(await page.textContent('#stats-hint')).toBe('the last 60 s, one sample every 0.2 s');
    await screenshot(page, 'lag');
  });

  it('serves uPlot from the server itself', async () => {
    for (const file of ['uPlot.iife.min.js', 'uPlot.min.css']) {
      const res = await fetch(`${h.url}/dashboard/vendor/${file}`);
      expect(res.status, file).toBe(200);
      expect((await res.text()).length).toBeGreaterThan(1000);
    }
    expect((await fetch(`${h.url}/dashboard/vendor/..%2Fpackage.json`)).status).toBe(404);
    expect((await fetch(`${h.url}/dashboard/vendor/uPlot.cjs.js`)).status).toBe(404);
  });
});

describe('the views tab', () => {
  it('lists the rows of a read model a page at a time, with its fields as columns', async () => {
    await page.click('#nav-views');
    await page.selectOption('#view-name', 'balances');
    await expect.poll(() => page.locator('#view-rows tr').count()).toBe(50);
    const header = await page.$$eval('#view-head th', (ths) => ths.map((th) => th.textContent));
    expect(header.slice(0, 4)).toEqual(['id', 'owner', 'balance', 'open']);
    const row = await page.$$eval('#view-rows tr[data-id="acc-07"] td', (tds) => tds.map((td) => td.textContent));
    expect(row.slice(0, 4)).toEqual(['acc-07', 'owner 7', '60', 'true']);
    expect(await page.textContent('#view-summary')).toMatch(/^rows 1–50 · /);
    await screenshot(page, 'views');
    await page.click('#view-next');
    await expect.poll(() => page.locator('#view-rows tr').count()).toBe(10);
    expect(await page.locator('#view-rows tr').first().getAttribute('data-id')).toBe('acc-50');
    expect(await page.isDisabled('#view-next')).toBe(true);
    await page.click('#view-prev');
    await expect.poll(() => page.locator('#view-rows tr').first().getAttribute('data-id')).toBe('acc-00');
  });
});

describe('the admin tab (loopback, no tokens configured)', () => {
  it('reconciles a view and lists its mismatches, then repairs them', async () => {
    const gen = h.runtime.log.views.meta('balances').active;
    await h.runtime.log.views.putRow('balances', gen, 'acc-13', { owner: 'mallory', balance: 999_999, open: true, version: 1, updatedAt: 0 });
    await page.click('#nav-admin');
    await page.selectOption('#admin-view', 'balances');
    await page.click('#admin-reconcile');
    await expect.poll(() => page.textContent('#reconcile-summary')).toBe('checked 60 rows · drift 1');
    const mismatch = await page.$$eval('#reconcile-mismatches tr td', (tds) => tds.map((td) => td.textContent ?? ''));
    expect(mismatch[0]).toBe('acc-13');
    expect(mismatch[1]).toContain('mallory');
    expect(mismatch[2]).toContain('"owner":"owner 13"');
    await screenshot(page, 'admin-reconcile');
    await page.click('#admin-repair');
    await expect.poll(() => page.textContent('#reconcile-summary')).toBe('checked 60 rows · drift 1 · repaired 1');
    await page.click('#admin-reconcile');
    await expect.poll(() => page.textContent('#reconcile-summary')).toBe('checked 60 rows · drift 0');
    expect(await page.locator('#reconcile-table').isVisible()).toBe(false);
  });

  it('rebuilds a view and shows its progress until the swap', async () => {
    // Enough events that the rebuild is still running when the first answer comes back.
    await Promise.all(Array.from({ length: 600 }, (_, k) => h.runtime.execute('account', `acc-${String(k % 60).padStart(2, '0')}`, { type: 'Deposit', data: { amount: 1 } })));
    // Every state the progress bar shows, recorded in the page (the tests' tsconfig has no DOM types: a string).
    await page.evaluate(`(() => {
      const bar = document.getElementById('rebuild-progress');
      window.rebuildStates = [];
      new MutationObserver(() => window.rebuildStates.push(bar.dataset.state + ':' + bar.value)).observe(bar, { attributes: true });
    })()`);
    await page.click('#admin-rebuild');
    await expect.poll(() => page.getAttribute('#rebuild-progress', 'data-state')).toBe('swapped');
    expect(await page.locator('#rebuild-progress').evaluate((bar) => bar.value)).toBe(1);
    expect(await page.textContent('#rebuild-status')).toMatch(/^balances: rebuilt: generation \d+ is live \(100%\)$/);
    const states = (await page.evaluate('window.rebuildStates')) as string[];
    expect(states.some((s) => s.startsWith('building:'))).toBe(true);
    expect(states.at(-1)).toBe('swapped:1');
    expect(await page.isDisabled('#admin-rebuild')).toBe(false);
  });

  it('verifies the log and makes a backup', async () => {
    await page.click('#admin-verify');
    await expect.poll(() => page.textContent('#verify-summary')).toMatch(/^ok: [\d,]+ events in 4 partitions verified in \d+ ms$/);
    expect(await page.locator('#verify-partitions tr').count()).toBe(4);
    await page.fill('#backup-name', 'from-the-console');
    await page.click('#admin-backup');
    await expect.poll(() => page.textContent('#backup-summary')).toMatch(/^backup from-the-console: [\d,]+ events, \d+ KiB, verified, in \d+ ms$/);
    expect(existsSync(join(backups.dir, 'from-the-console'))).toBe(true);
    // The same name again: the server's refusal is shown, not swallowed.
    await page.fill('#backup-name', 'from-the-console');
    await page.click('#admin-backup');
    await expect.poll(() => page.textContent('#admin-message')).toMatch(/^AlreadyExists: /);
    await screenshot(page, 'admin');
    expect(problems).toEqual([]);
  });
});
