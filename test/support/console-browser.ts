/**
 * Headless Chromium for the console's tests (playwright-core driving Debian's `chromium`): a browser, a
 * page that collects its own errors, screenshots kept under artifacts/console/ (CI keeps them), and
 * small HTTP helpers that talk to the real server over real sockets.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
const ARTIFACTS = fileURLToPath(new URL('../../artifacts/console/', import.meta.url));

export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (or set CHROMIUM_PATH)`);
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}

export interface ConsolePage {
  page: Page;
  /** Uncaught errors and console errors of the page; a test expects none. */
  problems: string[];
}

/** A new page, collecting its errors. 4xx answers the console handles itself are not problems. */
export async function openPage(browser: Browser, viewport = { width: 1280, height: 900 }): Promise<ConsolePage> {
  const page = await browser.newPage({ viewport });
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(e.message));
  page.on('console', (m) => {
    // Chromium logs every non-2xx fetch as "Failed to load resource"; the tests check what the page shows instead.
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) problems.push(m.text());
  });
  return { page, problems };
}

/** Saves a screenshot of the page as artifacts/console/<name>.png. */
export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: `${ARTIFACTS}${name}.png`, fullPage: true });
}

/** POSTs a command through the real HTTP stack; answers the status and body. */
export async function sendCommand(url: string, type: string, id: string, body: unknown, token?: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${url}/aggregates/${type}/${id}/commands`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** True when the page has no horizontal overflow (its content fits its width). */
export async function fitsWidth(page: Page): Promise<{ scrollWidth: number; clientWidth: number }> {
  return page.locator('html').evaluate((root) => ({ scrollWidth: root.scrollWidth, clientWidth: root.clientWidth }));
}
