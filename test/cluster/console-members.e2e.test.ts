/**
 * The console of a cluster node, in real headless Chromium: the lag tab shows the group's members
 * (which one this server is, the address each announced, how many partitions each serves) and each
 * partition's owner and lease epoch, as GET /partitions says; two eventide servers on one nats-server.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, openPage, screenshot } from '../support/console-browser.js';
import { NATS_MISSING, natsServerAvailable, startNats, type NatsCluster } from '../support/nats-servers.js';
import { partitionsOf, sharing, startClusterServers, stopClusterServers, type ClusterServer } from '../support/cluster-servers.js';

const P = 6;
const available = natsServerAvailable();


describe.skipIf(!available)(available ? 'the console of a cluster node' : `the console of a cluster node (skipped: ${NATS_MISSING})`, () => {
  let nats: NatsCluster;
  let servers: ClusterServer[] = [];
  let browser: Browser;
  let page: Page;
  let problems: string[];

  beforeAll(async () => {
    nats = await startNats(1);
    servers = await startClusterServers(['m1', 'm2'], { natsUrl: nats.urls[0]!, partitions: P, group: `console${process.pid}` });
    await sharing(servers);
    browser = await launchBrowser();
    ({ page, problems } = await openPage(browser));
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await stopClusterServers(servers);
    await nats?.stop();
  }, 60_000);

  it('lists the members, this server first-marked, with the partitions each serves, and every partition\'s owner and epoch', async () => {
    const s1 = servers[0]!;
    await page.goto(`${s1.url}/#lag`);
    await page.locator('#members-panel').waitFor({ state: 'visible' });
    await expect.poll(() => page.locator('#members tr').count()).toBe(2);
    expect(await page.textContent('#members tr[data-member="m1"] td')).toBe('m1 (this server)');
    expect(await page.textContent('#members tr[data-member="m2"] td')).toBe('m2');
    expect(await page.$$eval('#partitions-head th', (ths) => ths.slice(0, 4).map((th) => th.textContent))).toEqual(['partition', 'owner', 'epoch', 'events']);

    // What the page shows is what /partitions says (polled: a lease may be renewed between the two reads, never moved here).
    await expect
      .poll(async () => {
        const v = await partitionsOf(s1.url);
        const rows = await page.$$eval('#partitions tr', (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].slice(0, 3).map((td) => td.textContent)));
        const counts = await page.$$eval('#members tr', (trs) => trs.map((tr) => [tr.getAttribute('data-member'), tr.querySelectorAll('td')[2]?.textContent]));
        const expectedCounts = ['m1', 'm2'].map((m) => [m, String(v.partitions.filter((p) => p.owner === m).length)]);
        const expectedRows = v.partitions.map((p) => [`p${p.partition}`, p.owner ?? 'none', String(p.epoch ?? '')]);
        return JSON.stringify([rows, counts]) === JSON.stringify([expectedRows, expectedCounts]);
      }, { timeout: 30_000, interval: 500 })
      .toBe(true);
    const announced = (await partitionsOf(s1.url)).members?.find((m) => m.nodeId === 'm2')?.url;
    expect(announced?.startsWith('http://127.0.0.1:')).toBe(true);
    expect(await page.getAttribute('#members tr[data-member="m2"] a', 'href')).toBe(announced);
    await screenshot(page, 'cluster-members');
    expect(problems, problems.join('\n')).toEqual([]);
  });
});
