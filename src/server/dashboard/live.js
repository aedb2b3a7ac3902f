// The live tail: one WebSocket to /feed, the recent events newest first, with pause and filter.
//
// Order: the feed sends each partition in offset order, but across partitions the interleaving is
// arbitrary, and a replay after a reload comes partition by partition. So events are kept sorted by their
// commit time (`ts`), ties by arrival (within a partition arrival is offset order), and only the newest
// KEPT are kept: whatever order they arrive in, the table shows the newest events, newest first.

import { FEED_AUTH_PROTOCOL, api, token } from './api.js';
import { $, cell, clockTime, el, hashLink, jsonLine } from './dom.js';

/** Events kept (newest by time); on load each partition replays this many, so the newest KEPT are exact. */
const KEPT = 200;
/** Rows shown at most. */
const SHOWN = 50;

const listeners = new Set();
/** `fn(events)` gets every batch from the feed (the videos and the stream browser follow it). */
export function onEvents(fn) {
  listeners.add(fn);
}

const tail = {
  position: null,
  seen: 0,
  arrivals: 0,
  /** Newest first: { e, ms, arrival }. */
  events: [],
  paused: null, // while paused: { events, seen } as they were
  filter: '',
  dirty: false,
};

let authorized = true;
let retryMs = 500;
/** The feed socket, so a token given while one is still connecting does not start a second one. */
let feed = null;
/** Counts startFeed() calls, so an older one still waiting for its answer does not act after a newer one. */
let starts = 0;

/** Connects the feed (again), resuming from the last position, or replaying recent history first. */
export async function startFeed() {
  authorized = true;
  const mine = ++starts;
  let from = tail.position ?? 'now';
  // Asked first even when resuming: a refused token is found here, without a refused WebSocket handshake.
  try {
    const body = await api('/partitions');
    if (tail.position === null) from = body.partitions.map((p) => Math.max(0, p.offset - KEPT)).join('.');
  } catch (err) {
    if (mine !== starts) return; // a newer start (another token) owns the feed now
    if (err.status === 401 || err.status === 403) return stopFeed();
    // The server is not up yet: connect anyway and let the reconnect loop do the rest.
  }
  if (mine === starts) connect(from);
}

/** Stops following (the token was refused); startFeed() resumes. */
export function stopFeed() {
  authorized = false;
  setConnection('offline');
  feed?.close();
}

function connect(from) {
  if (!authorized || (feed && feed.readyState <= WebSocket.OPEN)) return;
  setConnection('connecting');
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const t = token();
  const ws = new WebSocket(`${proto}//${location.host}/feed?from=${encodeURIComponent(from)}`, t ? [FEED_AUTH_PROTOCOL, t] : []);
  feed = ws;
  ws.onmessage = (m) => {
    let msg;
    try {
      msg = JSON.parse(m.data);
    } catch {
      return;
    }
    if (msg.kind === 'hello') {
      retryMs = 500;
      setConnection('live');
      tail.position = msg.position;
    } else if (msg.kind === 'events') {
      // One message per commit batch: its events in order, then the position after all of them.
      for (const e of msg.events) keep(e);
      tail.position = msg.position;
      for (const fn of listeners) fn(msg.events);
    }
    schedule();
  };
  ws.onclose = () => {
    if (feed === ws) feed = null;
    setConnection('offline');
    if (!authorized) return;
    // Resume exactly where the last processed message left off: no gap, no duplicate (also after 4008/1001).
    setTimeout(() => connect(tail.position ?? 'now'), retryMs);
    retryMs = Math.min(retryMs * 2, 10_000);
  };
}

function setConnection(status) {
  const node = $('conn');
  node.className = `pill ${status}`;
  node.textContent = status;
}

// ---------------------------------------------------------------- keeping the newest events in order

/** True when `a` goes before `b` in the newest-first list. */
function newer(a, b) {
  return a.ms !== b.ms ? a.ms > b.ms : a.arrival > b.arrival;
}

function keep(e) {
  tail.seen++;
  const ms = Date.parse(e.ts);
  const item = { e, ms: Number.isNaN(ms) ? 0 : ms, arrival: tail.arrivals++ };
  const list = tail.events;
  // Binary search for the first kept event that is older than this one.
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (newer(list[mid], item)) lo = mid + 1;
    else hi = mid;
  }
  if (lo >= KEPT) return; // older than everything kept
  list.splice(lo, 0, item);
  if (list.length > KEPT) list.length = KEPT;
}

// ---------------------------------------------------------------- pause and filter

export function initTail() {
  $('tail-pause').addEventListener('click', () => {
    tail.paused = tail.paused ? null : { events: [...tail.events], seen: tail.seen };
    schedule();
  });
  $('tail-filter').addEventListener('input', (e) => {
    tail.filter = e.target.value.trim().toLowerCase();
    schedule();
  });
  $('example-host').textContent = location.host;
}

function matches(item, filter) {
  if (!filter) return true;
  const e = item.e;
  return `${e.aggregateType}/${e.stream} ${e.type} ${jsonLine(e.data)}`.toLowerCase().includes(filter);
}

// ---------------------------------------------------------------- rendering (at most once per frame)

function schedule() {
  if (tail.dirty) return;
  tail.dirty = true;
  requestAnimationFrame(render);
}

let lastTop = null;
function render() {
  tail.dirty = false;
  $('event-count').textContent = tail.seen.toLocaleString();
  $('position').textContent = tail.position ?? '–';
  $('position').title = tail.position ?? '';

  const paused = tail.paused;
  const pause = $('tail-pause');
  pause.textContent = paused ? 'Resume' : 'Pause';
  pause.setAttribute('aria-pressed', String(Boolean(paused)));
  $('tail-state').textContent = paused ? `paused · ${(tail.seen - paused.seen).toLocaleString()} new` : 'live · newest first';
  $('tail-state').classList.toggle('paused', Boolean(paused));

  const source = paused ? paused.events : tail.events;
  const shown = source.filter((item) => matches(item, tail.filter)).slice(0, SHOWN);
  const top = shown[0]?.e ?? null;
  $('events').replaceChildren(
    ...shown.map(({ e }) => {
      const tr = el('tr');
      if (e === top && top !== lastTop && !paused) tr.className = 'fresh';
      // HH:MM:SS, then the milliseconds in their own span (narrow screens hide them).
      const t = clockTime(e.ts);
      const time = el('td', 'num', t.slice(0, 8));
      time.append(el('span', 'ms', t.slice(8)));
      time.title = String(e.ts);
      const agg = el('td', 'agg');
      agg.append(hashLink(`streams/${e.aggregateType}/${e.stream}`, `${e.aggregateType}/${e.stream}`));
      agg.title = `${e.aggregateType}/${e.stream}: open in the stream browser`;
      tr.append(time, agg, cell('etype', e.type), el('td', 'num', e.seq), el('td', 'num', `${e.partition}:${e.offset}`), cell('data', jsonLine(e.data)));
      return tr;
    }),
  );
  lastTop = top;
  const empty = source.length === 0;
  $('events-empty').classList.toggle('hidden', !empty);
  $('events-none-match').classList.toggle('hidden', empty || shown.length > 0);
}

/** Ids seen on the feed lately, newest first, for the stream browser's suggestions. */
export function recentIds(type) {
  const ids = [];
  for (const { e } of tail.events) if (e.aggregateType === type && !ids.includes(e.stream)) ids.push(e.stream);
  return ids.slice(0, 50);
}

/** Aggregate types seen on the feed. */
export function seenTypes() {
  return [...new Set(tail.events.map(({ e }) => e.aggregateType))];
}
