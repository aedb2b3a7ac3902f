/**
 * The console's live tail and layout in real headless Chromium against a real server: after a reload the
 * recent events are the newest ones, newest first across partitions; pause and filter; every tab fits a
 * 420 px wide screen. Screenshots go to artifacts/console/.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { partitionOf } from '../../src/partition/index.js';
import { fitsWidth, launchBrowser, openPage, screenshot, sendCommand } from '../support/console-browser.js';
import { harness, type Harness } from './helpers.js';

let h: Harness;
let browser: Browser;
let page: Page;
let problems: string[];

beforeAll(async () => {
  h = await harness({ consoleStats: { intervalMs: 200 } });
  await h.listen();
  browser = await launchBrowser();
  ({ page, problems } = await openPage(browser));
});

afterAll(async () => {
  await browser?.close();
  await h?.close();
});

/** The ISO times of the rows shown, top to bottom. */
const rowTimes = (p: Page) => p.$$eval('#events tr td:first-child', (tds) => tds.map((td) => td.getAttribute('title') ?? ''));
const rowAggregates = (p: Page) => p.$$eval('#events tr td:nth-child(2)', (tds) => tds.map((td) => td.textContent ?? ''));

describe('the live tail after a reload', () => {
  it('shows the newest events, newest first across partitions, not partition by partition', async () => {
    // 4 partitions; the page replays each partition's recent history one partition after the other.
    // Accounts on every partition, then more events than the tail keeps (200), ending on partition 0:
    // the partition replayed first, whose newest events a per-partition order would push down or drop.
    const ids = Array.from({ length: 12 }, (_, i) => `acc-order-${i}`);
    const byPartition = new Map(ids.map((id) => [id, partitionOf(id, 4)]));
    expect(new Set(byPartition.values()).size).toBe(4);
    for (const id of ids) await h.runtime.execute('account', id, { type: 'Open', data: { owner: id } });
    const last = ids.find((id) => byPartition.get(id) === 0)!;
    const others = ids.filter((id) => id !== last);
    for (let i = 0; i < 240; i++) await h.runtime.execute('account', others[i % others.length]!, { type: 'Deposit', data: { amount: 1 } });
    // Events on different partitions in the same millisecond have no order between them (the page keeps
    // such ties in arrival order, and partition 0 is replayed first): make the last event strictly newer.
    await new Promise((resolve) => setTimeout(resolve, 5));
    await h.runtime.execute('account', last, { type: 'Deposit', data: { amount: 777 } });

    // The newest 50 of the log, whatever partition they are in.
    const all = [0, 1, 2, 3].flatMap((p) => h.runtime.log.readPartition(p, 0, 10_000)).sort((a, b) => b.ts - a.ts);
    expect(all[0]!.ts).toBeGreaterThan(all[1]!.ts);
    await page.goto(h.url);
    await expect.poll(() => page.textContent('#conn')).toBe('live');
    await expect.poll(async () => (await rowAggregates(page))[0]).toBe(`account/${last}`);
    // Partition 0's history (replayed first) already holds the newest event: wait for the other
    // partitions' histories to be merged in too, not only for the first row.
    const times = async () => (await rowTimes(page)).map((t) => Date.parse(t));
    await expect.poll(async () => (await times())[49] ?? 0).toBeGreaterThanOrEqual(all[49]!.ts);
    const shown = await times();
    expect(shown.length).toBe(50);
    expect(shown.every((t, i) => i === 0 || t <= shown[i - 1]!)).toBe(true);
    expect(await page.locator('#events tr').first().textContent()).toContain('"amount":777');
  });

  it('keeps that order for live events, and links each aggregate to the stream browser', async () => {
    const r = await sendCommand(h.url, 'account', 'acc-order-1', { type: 'Withdraw', data: { amount: 1 } });
    expect(r.status).toBe(200);
    await expect.poll(async () => (await rowAggregates(page))[0]).toBe('account/acc-order-1');
    expect(await page.locator('#events tr').first().locator('a').getAttribute('href')).toBe('#streams/account/acc-order-1');
    await screenshot(page, 'live');
  });
});

describe('pause and filter', () => {
  it('pauses the table while events keep arriving, and shows them on resume', async () => {
    await page.click('#tail-pause');
    await expect.poll(() => page.textContent('#tail-state')).toBe('paused · 0 new');
    expect(await page.getAttribute('#tail-pause', 'aria-pressed')).toBe('true');
    await sendCommand(h.url, 'account', 'acc-paused', { type: 'Open', data: { owner: 'Pat' } });
    await expect.poll(() => page.textContent('#tail-state')).toBe('paused · 1 new');
    expect(await page.locator('#events tr', { hasText: 'acc-paused' }).count()).toBe(0);
    await screenshot(page, 'live-paused');
    await page.click('#tail-pause');
    await page.locator('#events tr', { hasText: 'acc-paused' }).waitFor();
    expect(await page.textContent('#tail-state')).toBe('live · newest first');
  });

  it('filters the rows by aggregate, event type or data, and says when nothing matches', async () => {
    await page.fill('#tail-filter', 'pat');
    await expect.poll(() => page.locator('#events tr').count()).toBe(1);
    expect(await page.locator('#events tr').first().textContent()).toContain('acc-paused');
    // The 12 earlier openings are older than the 200 events kept: only the last one is among them.
    await page.fill('#tail-filter', 'AccountOpened');
    await expect.poll(() => page.locator('#events tr').count()).toBe(1);
    await sendCommand(h.url, 'account', 'acc-filtered', { type: 'Open', data: { owner: 'Flo' } });
    await expect.poll(() => page.locator('#events tr').count()).toBe(2);
    expect(await page.locator('#events tr').first().textContent()).toContain('acc-filtered');
    await page.fill('#tail-filter', 'no-such-thing');
    await page.locator('#events-none-match').waitFor();
    await page.fill('#tail-filter', '');
    await expect.poll(() => page.locator('#events tr').count()).toBe(50);
  });
});

describe('at 420 px wide', () => {
  it('has no horizontal overflow on any tab', async () => {
    const { page: narrow, problems: narrowProblems } = await openPage(browser, { width: 420, height: 800 });
    await narrow.goto(h.url);
    await expect.poll(() => narrow.textContent('#conn')).toBe('live');
    for (const tab of ['live', 'streams/account/acc-order-1', 'lag', 'views', 'videos', 'admin']) {
      await narrow.goto(`${h.url}/#${tab}`);
      await narrow.waitForTimeout(300); // one render
      const { scrollWidth, clientWidth } = await fitsWidth(narrow);
      expect(scrollWidth, tab).toBeLessThanOrEqual(clientWidth);
      if (tab === 'live') await screenshot(narrow, 'narrow-live');
      if (tab.startsWith('streams')) {
        await narrow.locator('#stream-state').waitFor();
        await screenshot(narrow, 'narrow-streams');
      }
    }
    const top = await narrow.locator('header.top').evaluate((header) => ({ scrollWidth: header.scrollWidth, clientWidth: header.clientWidth }));
    expect(top.scrollWidth).toBeLessThanOrEqual(top.clientWidth);
    expect(narrowProblems).toEqual([]);
    await narrow.close();
  });

  it('kept the page free of errors', () => {
    expect(problems).toEqual([]);
  });
});
