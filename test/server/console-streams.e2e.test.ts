/**
 * The console's stream browser in real headless Chromium against a real server: find an aggregate by
 * type and id, list its events, move its state through its versions with the time slider (each version
 * as the server's time machine answers it), and show the diff between two points; hostile data stays
 * text. Screenshots go to artifacts/console/.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, openPage, screenshot, sendCommand } from '../support/console-browser.js';
import { harness, type Harness } from './helpers.js';

let h: Harness;
let browser: Browser;
let page: Page;
let problems: string[];

const OWNER = '<img src=x onerror="document.title=\'owned\'">';
const BALANCES = [0, 100, 150, 120];

beforeAll(async () => {
  h = await harness();
  await h.listen();
  for (const body of [
    { type: 'Open', data: { owner: OWNER } },
    { type: 'Deposit', data: { amount: 100 } },
    { type: 'Deposit', data: { amount: 50 } },
    { type: 'Withdraw', data: { amount: 30 } },
  ]) expect((await sendCommand(h.url, 'account', 'acc-tm', body)).status).toBe(200);
  browser = await launchBrowser();
  ({ page, problems } = await openPage(browser));
});

afterAll(async () => {
  await browser?.close();
  await h?.close();
});

const stateShown = async (p: Page) => {
  const node = p.locator('#stream-state');
  return { version: Number(await node.getAttribute('data-version')), state: JSON.parse((await node.textContent()) ?? 'null') as Record<string, unknown> };
};
const diffRows = (p: Page) =>
  p.$$eval('#stream-diff tr', (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent ?? '')));

/** What the server's time machine answers for a version. */
async function timeMachine(version: number): Promise<unknown> {
  const res = await fetch(`${h.url}/aggregates/account/acc-tm?version=${version}`);
  return ((await res.json()) as { state: unknown }).state;
}

describe('the stream browser', () => {
  it('finds an aggregate by type and id and shows its events and its current state', async () => {
    await page.goto(`${h.url}/#streams`);
    await page.selectOption('#stream-type', 'account');
    await page.fill('#stream-id', 'acc-tm');
    await page.click('#stream-form button[type=submit]');
    await expect.poll(async () => (await stateShown(page)).version).toBe(4);
    expect((await stateShown(page)).state).toEqual({ owner: OWNER, balance: 120, open: true });
    expect(page.url()).toContain('#streams/account/acc-tm');
    expect(await page.$$eval('#stream-events tr', (trs) => trs.map((tr) => tr.children[2]!.textContent))).toEqual(['AccountOpened', 'Deposited', 'Deposited', 'Withdrawn']);
    expect(await page.textContent('#stream-version')).toBe('version 4 · 4 events');
    // The last event's diff: from version 3 to 4.
    expect(await diffRows(page)).toEqual([['balance', 'changed', '150', '120']]);
  });

  it('moves the state through every version with the slider, as the time machine has it', async () => {
    await page.focus('#stream-to');
    await page.keyboard.press('Home');
    for (let version = 1; version <= 4; version++) {
      await expect.poll(async () => (await stateShown(page)).version).toBe(version);
      const shown = await stateShown(page);
      expect(shown.state).toEqual(await timeMachine(version));
      expect(shown.state['balance']).toBe(BALANCES[version - 1]);
      expect(await page.textContent('#stream-to-label')).toMatch(new RegExp(`^version ${version} · `));
      expect(await page.locator('#stream-events tr.future').count()).toBe(4 - version);
      if (version < 4) await page.keyboard.press('ArrowRight');
    }
  });

  it('shows the diff between two points: the fields that changed and the events between', async () => {
    // "diff from" back to before the first event: every field is added.
    await page.focus('#stream-from');
    await page.keyboard.press('Home');
    await expect.poll(() => page.locator('#stream-diff').getAttribute('data-from')).toBe('0');
    expect(await diffRows(page)).toEqual([
      ['balance', 'added', '', '120'],
      ['open', 'added', '', 'true'],
      ['owner', 'added', '', JSON.stringify(OWNER)],
    ]);
    expect(await page.textContent('#stream-diff-title')).toBe('Diff from version 0 to 4: 4 events, 3 fields changed');
    // From version 1 to 3 (keyboard on both sliders).
    await page.keyboard.press('ArrowRight');
    await page.focus('#stream-to');
    await page.keyboard.press('ArrowLeft');
    await expect.poll(() => page.locator('#stream-diff').getAttribute('data-to')).toBe('3');
    expect(await page.locator('#stream-diff').getAttribute('data-from')).toBe('1');
    expect(await diffRows(page)).toEqual([['balance', 'changed', '0', '150']]);
    expect(await page.textContent('#stream-diff-events')).toBe('events: 2 Deposited, 3 Deposited');
    expect(await page.locator('#stream-events tr.in-diff').count()).toBe(2);
    await screenshot(page, 'streams');
    // A click on an event shows what that event changed.
    await page.click('#stream-events tr[data-seq="4"]');
    await expect.poll(() => page.locator('#stream-diff').getAttribute('data-to')).toBe('4');
    expect(await diffRows(page)).toEqual([['balance', 'changed', '150', '120']]);
  });

  it('follows new events of the open stream while the slider is at the end', async () => {
    expect((await sendCommand(h.url, 'account', 'acc-tm', { type: 'Deposit', data: { amount: 5 } })).status).toBe(200);
    await expect.poll(async () => (await stateShown(page)).version).toBe(5);
    expect((await stateShown(page)).state['balance']).toBe(125);
    expect(await page.locator('#stream-events tr').count()).toBe(5);
    expect(await page.getAttribute('#stream-to', 'max')).toBe('5');
  });

  it('keeps hostile data as text in the state, the diff and the events', async () => {
    expect(await page.locator('#tab-streams img').count()).toBe(0);
    expect(await page.textContent('#stream-state')).toContain('<img src=x');
    expect(await page.title()).not.toBe('owned');
  });

  it('says so for a stream with no events, and opens one from the live tail', async () => {
    await page.goto(`${h.url}/#streams/account/nobody`);
    await expect.poll(() => page.getAttribute('#stream-message', 'class')).toContain('error');
    expect(await page.textContent('#stream-message')).toContain('account/nobody has no events');
    expect(await page.locator('#stream-view').isVisible()).toBe(false);

    await page.click('#nav-live');
    await page.locator('#events a', { hasText: 'account/acc-tm' }).first().click();
    await expect.poll(async () => (await stateShown(page)).version).toBe(5);
    expect(page.url()).toContain('#streams/account/acc-tm');
    expect(problems).toEqual([]);
  });
});
