// The "Lag" tab: per partition its events, the feed's lag and each read model's lag (GET /partitions),
// and throughput and lag over the last minutes as the server sampled them (GET /console/stats), both
// polled only while the tab is shown. In cluster mode also the group's members (which server this is,
// how many partitions each serves) and each partition's owner and lease epoch.

import { api, describeError } from './api.js';
import { $, el, say } from './dom.js';
import { LineChart } from './charts.js';

const POLL_MS = 2000;

let visible = false;
let timer = null;
/** Bumped on every show/leave, so a poll started before does not schedule a second loop. */
let generation = 0;
let throughput = null;
let lagChart = null;
/** The samples drawn, oldest first, and how many the server keeps. */
let samples = [];
let capacity = 300;

export function initLag() {
  let resizing = null;
  window.addEventListener('resize', () => {
    clearTimeout(resizing);
    resizing = setTimeout(() => {
      throughput?.resize();
      lagChart?.resize();
    }, 100);
  });
}

/** Called when the tab is shown (true) or left (false). */
export function showLag(on) {
  visible = on;
  clearTimeout(timer);
  const mine = ++generation;
  if (!on) return;
  throughput ??= new LineChart($('chart-throughput'), 'Throughput (events/s)');
  lagChart ??= new LineChart($('chart-lag'), 'Lag (events behind)');
  void poll(mine);
}

async function poll(mine) {
  try {
    await Promise.all([loadPartitions(), loadStats()]);
    say($('lag-message'), '');
  } catch (err) {
    say($('lag-message'), describeError(err), 'error');
  }
  if (visible && mine === generation) timer = setTimeout(() => poll(mine), POLL_MS);
}

async function loadPartitions() {
  const body = await api('/partitions');
  const parts = Array.isArray(body.partitions) ? body.partitions : [];
  const views = [...new Set(parts.flatMap((p) => Object.keys(p.views ?? {})))];
  const cluster = typeof body.node === 'string';
  showMembers(cluster ? body : null, parts);
  const head = el('tr');
  for (const h of ['partition', ...(cluster ? ['owner', 'epoch'] : ['worker']), 'events', 'feed lag', ...views.map((v) => `${v} lag`), 'status']) head.append(el('th', '', h));
  $('partitions-head').replaceChildren(head);
  const max = Math.max(1, ...parts.map((p) => p.offset));
  $('partitions').replaceChildren(
    ...parts.map((p) => {
      const tr = el('tr');
      tr.dataset.partition = String(p.partition);
      const events = el('td', 'num');
      const inner = el('div', 'events-cell');
      const bar = el('span', 'pbar');
      const fill = el('span');
      fill.style.width = `${(100 * p.offset) / max}%`;
      bar.append(fill);
      inner.append(bar, el('span', 'poff', p.offset.toLocaleString()));
      events.append(inner);
      tr.append(el('td', 'num', `p${p.partition}`));
      if (cluster) tr.append(el('td', p.served ? 'served' : '', p.owner ?? 'none'), el('td', 'num', p.epoch ?? ''));
      else tr.append(el('td', 'num', p.worker));
      tr.append(events, lagCell(p.feedLag));
      for (const v of views) {
        const td = lagCell(p.views?.[v]?.lag ?? 0);
        td.title = `${v}: checkpoint ${p.views?.[v]?.checkpoint ?? '?'} of ${p.offset}`;
        tr.append(td);
      }
      tr.append(el('td', p.stopped ? 'stopped' : 'ok', p.stopped ? `stopped: ${p.stopped}` : 'ok'));
      return tr;
    }),
  );
  const total = parts.reduce((n, p) => n + p.offset, 0);
  const workers = Array.isArray(body.workers) ? body.workers.length : 0;
  $('partition-summary').textContent = `${total.toLocaleString()} events · ${parts.length} partitions · ${workers} worker${workers === 1 ? '' : 's'}`;
}

/** The members table (cluster mode; hidden on an embedded server): each member, its address, the partitions it owns. */
function showMembers(body, parts) {
  $('members-panel').hidden = body === null;
  if (body === null) return;
  const members = Array.isArray(body.members) ? body.members : [];
  $('members').replaceChildren(
    ...members.map((m) => {
      const tr = el('tr');
      tr.dataset.member = m.nodeId;
      const name = el('td', '', m.nodeId === body.node ? `${m.nodeId} (this server)` : m.nodeId);
      const address = el('td');
      // Only http(s) URLs become links: a member announces its own, and the page must not follow anything else.
      if (typeof m.url === 'string' && /^https?:\/\//.test(m.url)) {
        const a = el('a', '', m.url);
        a.href = m.url;
        address.append(a);
      } else address.textContent = m.url ?? '';
      tr.append(name, address, el('td', 'num', String(parts.filter((p) => p.owner === m.nodeId).length)));
      return tr;
    }),
  );
  const unowned = parts.filter((p) => !p.owner).length;
  $('members-summary').textContent = `this server: ${body.node} · ${members.length} member${members.length === 1 ? '' : 's'}${unowned ? ` · ${unowned} partition${unowned === 1 ? '' : 's'} without an owner` : ''}`;
}

function lagCell(lag) {
  return el('td', lag > 0 ? 'num lagging' : 'num', lag.toLocaleString());
}

async function loadStats() {
  const since = samples.at(-1)?.t;
  const body = await api(`/console/stats${since === undefined ? '' : `?since=${since}`}`);
  capacity = body.capacity;
  samples = [...samples, ...body.samples].slice(-capacity);
  const xs = samples.map((s) => s.t / 1000);
  throughput.set(xs, [{ label: 'events/s', values: samples.map((s) => s.eventsPerSecond) }]);
  lagChart.set(xs, [
    { label: 'feed', values: samples.map((s) => s.feedLag) },
    ...body.views.map((name) => ({ label: name, values: samples.map((s) => s.viewLag[name] ?? null) })),
  ]);
  const span = (capacity * body.intervalMs) / 1000;
  const last = span >= 120 ? `${Math.round(span / 60)} minutes` : `${Math.round(span)} s`;
  $('stats-hint').textContent = `the last ${last}, one sample every ${body.intervalMs / 1000} s`;
}
