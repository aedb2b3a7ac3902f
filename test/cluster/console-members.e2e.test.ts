/**
 * The console of a cluster node, in real headless Chromium: the lag tab shows the group's members
 * (which one this server is, the address each announced, how many partitions each serves) and each
 * partition's owner and lease epoch, as GET /partitions says; two eventide servers on one nats-server.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, openPage, screenshot } from '../support/console-browser.js';
import { NATS_MISSING, natsServerAvailable, startNats, type NatsCluster } from '../support/nats-servers.js';
import { startServer, type ServerChild } from '../support/server-child.js';
import { makeTempDir, removeDir } from '../support/temp-dirs.js';

const P = 6;
const available = natsServerAvailable();

interface PartitionsBody {
  node?: string;
  members?: { nodeId: string; url?: string }[];
  partitions: { partition: number; served?: boolean; owner?: string; epoch?: number }[];
}

describe.skipIf(!available)(available ? 'the console of a cluster node' : `the console of a cluster node (skipped: ${NATS_MISSING})`, () => {
  let nats: NatsCluster;
  const servers: { nodeId: string; child: ServerChild; url: string; dataDir: string }[] = [];
  let browser: Browser;
  let page: Page;
  let problems: string[];

  const partitionsOf = async (url: string): Promise<PartitionsBody> => (await (await fetch(`${url}/partitions`)).json()) as PartitionsBody;

  beforeAll(async () => {
    nats = await startNats(1);
    const group = `console${process.pid}`;
    await Promise.all(
      ['m1', 'm2'].map(async (nodeId) => {
        const dataDir = await makeTempDir('cluster-console');
        const child = startServer(dataDir, { env: { PARTITIONS: String(P), WORKERS: '1', EVENTIDE_NATS: nats.urls[0]!, EVENTIDE_NODE_ID: nodeId, EVENTIDE_GROUP: group, EVENTIDE_LEASE_MS: '2000' } });
        servers.push({ nodeId, child, url: await child.listening, dataDir });
      }),
    );
    servers.sort((a, b) => a.nodeId.localeCompare(b.nodeId));
    // Both members up and every partition owned by one of them, as the first server sees it.
    for (const until = performance.now() + 90_000; ; await new Promise((r) => setTimeout(r, 200))) {
      const v = await partitionsOf(servers[0]!.url);
      if ((v.members?.length ?? 0) === 2 && v.partitions.every((p) => p.owner === 'm1' || p.owner === 'm2') && new Set(v.partitions.map((p) => p.owner)).size === 2) break;
      if (performance.now() > until) throw new Error(`the two members never shared the partitions: ${JSON.stringify(v)}`);
    }
    browser = await launchBrowser();
    ({ page, problems } = await openPage(browser));
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await Promise.allSettled(servers.map((s) => s.child.kill('SIGTERM')));
    await Promise.allSettled(servers.map((s) => removeDir(s.dataDir)));
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
