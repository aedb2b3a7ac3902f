// The live dashboard: one WebSocket to /feed, a poll of /partitions, plain DOM.
// Every value from the server goes into the page through textContent or a CSS width, never innerHTML:
// event data is user input (owner names, failure reasons, ids).
//
// Tokens: when the API answers 401, the page shows a token field and keeps what is typed in
// sessionStorage (gone with the tab, never in a URL). It goes out as `Authorization: Bearer` on fetches
// and, since a browser cannot set headers on a WebSocket, as the subprotocol pair
// ['eventide.bearer', token] on the feed.

const RECENT_EVENTS = 50;
const MAX_VIDEOS = 24;
/** On first load, replay this many events per partition so the page is not empty. */
const HISTORY_PER_PARTITION = 200;
const PARTITIONS_POLL_MS = 2000;

const $ = (id) => document.getElementById(id);
const el = (tag, className, text) => {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = String(text);
  return node;
};

const state = {
  position: null,
  seen: 0,
  videos: new Map(),
  events: [],
  dirty: false,
};

// ---------------------------------------------------------------- the token

const TOKEN_KEY = 'eventide.token';
const FEED_AUTH_PROTOCOL = 'eventide.bearer';
let authorized = true;

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

/** fetch with the token; a 401 shows the token form and answers null. */
async function api(path) {
  const t = token();
  const res = await fetch(path, t ? { headers: { authorization: `Bearer ${t}` } } : {});
  if (res.status === 401) {
    askForToken(t ? 'the server refused this token' : '');
    return null;
  }
  return res;
}

function askForToken(problem) {
  authorized = false;
  setConnection('offline');
  $('auth').classList.remove('hidden');
  $('auth-error').textContent = problem;
  $('auth-token').focus();
}

$('auth').addEventListener('submit', (e) => {
  e.preventDefault();
  const value = $('auth-token').value.trim();
  if (!value) return;
  sessionStorage.setItem(TOKEN_KEY, value);
  $('auth-token').value = '';
  $('auth').classList.add('hidden');
  $('auth-error').textContent = '';
  authorized = true;
  start();
});

// ---------------------------------------------------------------- the feed

let retryMs = 500;
let polling = false;
/** The feed socket, so a token given while one is still connecting does not start a second one. */
let feed = null;

async function start() {
  let from = 'now';
  try {
    const res = await api('/partitions');
    if (!res) return; // waiting for a token
    const body = await res.json();
    from = body.partitions.map((p) => Math.max(0, p.offset - HISTORY_PER_PARTITION)).join('.');
  } catch {
    // The server is not up yet: connect from now and let the reconnect loop do the rest.
  }
  connect(state.position ?? from);
  if (!polling) {
    polling = true;
    pollPartitions();
  }
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
      state.position = msg.position;
    } else if (msg.kind === 'events') {
      // One message per commit batch: its events in order, then the position after all of them.
      for (const e of msg.events) apply(e);
      state.position = msg.position;
    }
    schedule();
  };
  ws.onclose = () => {
    feed = null;
    setConnection('offline');
    if (!authorized) return; // start() reconnects once a token is given
    // Resume exactly where the last processed message left off: no gap, no duplicate (also after 4008/1001).
    setTimeout(() => connect(state.position ?? 'now'), retryMs);
    retryMs = Math.min(retryMs * 2, 10_000);
  };
}

function setConnection(status) {
  const node = $('conn');
  node.className = `pill ${status}`;
  node.textContent = status;
}

// ---------------------------------------------------------------- folding events into view state

function apply(e) {
  state.seen++;
  state.events.unshift(e);
  if (state.events.length > RECENT_EVENTS) state.events.length = RECENT_EVENTS;
  if (e.aggregateType === 'video') applyVideo(e);
}

function applyVideo(e) {
  let v = state.videos.get(e.stream);
  if (!v) {
    v = { id: e.stream, status: 'UPLOADED', progress: 0, attempt: 0, renditions: [], reason: null, updated: 0 };
    state.videos.set(e.stream, v);
  }
  const d = e.data || {};
  switch (e.type) {
    case 'VideoUploaded':
      v.status = 'UPLOADED';
      v.bytes = d.bytes;
      break;
    case 'VideoProcessingStarted':
      Object.assign(v, { status: 'PROCESSING', attempt: d.attempt, progress: 0, renditions: [], reason: null });
      break;
    case 'VideoProcessingProgressed':
      v.status = 'PROCESSING';
      v.progress = Math.max(v.progress, Number(d.percent) || 0);
      break;
    case 'RenditionCompleted':
      v.renditions.push(d.height);
      break;
    case 'VideoProcessingSucceeded':
      Object.assign(v, { status: 'SUCCEEDED', progress: 100 });
      break;
    case 'VideoProcessingFailed':
      Object.assign(v, { status: 'FAILED', reason: d.reason ?? 'failed', attempt: d.attempt });
      break;
    case 'VideoCancelled':
      Object.assign(v, { status: 'CANCELLED', reason: d.reason ?? 'cancelled' });
      break;
    default:
      break;
  }
  v.updated = state.seen;
}

// ---------------------------------------------------------------- rendering (at most once per frame)

function schedule() {
  if (state.dirty) return;
  state.dirty = true;
  requestAnimationFrame(render);
}

function render() {
  state.dirty = false;
  $('event-count').textContent = state.seen.toLocaleString();
  $('position').textContent = state.position ?? '–';
  $('position').title = state.position ?? '';
  renderVideos();
  renderEvents();
}

function renderVideos() {
  const list = $('videos');
  const videos = [...state.videos.values()].sort((a, b) => b.updated - a.updated).slice(0, MAX_VIDEOS);
  list.replaceChildren(
    ...videos.map((v) => {
      const li = el('li', `video ${v.status}`);
      li.dataset.id = v.id;
      const top = el('div', 'video-top');
      top.append(el('span', 'video-id', v.id), el('span', `badge ${v.status}`, v.status));
      const bar = el('div', 'bar');
      const fill = el('span');
      fill.style.width = `${Math.max(0, Math.min(100, v.progress))}%`;
      bar.setAttribute('role', 'progressbar');
      bar.setAttribute('aria-valuenow', String(v.progress));
      bar.setAttribute('aria-valuemin', '0');
      bar.setAttribute('aria-valuemax', '100');
      bar.append(fill);
      const foot = el('div', 'video-foot');
      foot.append(el('span', 'progress', `${v.progress}%`));
      if (v.reason) foot.append(el('span', 'reason', v.reason));
      else foot.append(el('span', '', v.renditions.length ? v.renditions.sort((a, b) => a - b).map((h) => `${h}p`).join(' · ') : v.attempt ? `attempt ${v.attempt}` : ''));
      li.append(top, bar, foot);
      return li;
    }),
  );
  $('videos-empty').classList.toggle('hidden', videos.length > 0);
  $('video-count').textContent = state.videos.size ? `${state.videos.size} tracked` : 'none yet';
}

let lastTopEvent = null;
function renderEvents() {
  const body = $('events');
  const newest = state.events[0];
  body.replaceChildren(
    ...state.events.map((e) => {
      const tr = el('tr');
      if (e === newest && newest !== lastTopEvent) tr.className = 'fresh';
      const time = new Date(e.ts);
      tr.append(
        el('td', 'num', Number.isNaN(time.getTime()) ? '' : time.toLocaleTimeString([], { hour12: false })),
        cell('agg', `${e.aggregateType}/${e.stream}`),
        cell('etype', e.type),
        el('td', 'num', e.seq),
        el('td', 'num', `${e.partition}:${e.offset}`),
        cell('data', JSON.stringify(e.data)),
      );
      return tr;
    }),
  );
  lastTopEvent = newest ?? null;
  $('events-empty').classList.toggle('hidden', state.events.length > 0);
}

function cell(className, text) {
  const td = el('td', className, text);
  td.title = text;
  return td;
}

// ---------------------------------------------------------------- partitions (polled)

async function pollPartitions() {
  try {
    const res = authorized ? await api('/partitions') : null;
    if (res?.ok) renderPartitions(await res.json());
  } catch {
    // Shown as offline by the feed already.
  }
  setTimeout(pollPartitions, PARTITIONS_POLL_MS);
}

function renderPartitions(body) {
  const parts = Array.isArray(body.partitions) ? body.partitions : [];
  const max = Math.max(1, ...parts.map((p) => p.offset));
  const total = parts.reduce((n, p) => n + p.offset, 0);
  $('partitions').replaceChildren(
    ...parts.map((p) => {
      const li = el('li', 'partition');
      li.title = `partition ${p.partition} · worker ${p.worker} · ${p.offset} events`;
      const bar = el('span', 'pbar');
      const fill = el('span');
      fill.style.width = `${(100 * p.offset) / max}%`;
      bar.append(fill);
      li.append(el('span', 'pid', `p${p.partition}`), bar, el('span', 'poff', p.offset.toLocaleString()));
      return li;
    }),
  );
  const workers = Array.isArray(body.workers) ? body.workers.length : 0;
  $('partition-summary').textContent = `${total.toLocaleString()} events · ${workers} worker${workers === 1 ? '' : 's'}`;
}

$('example-host').textContent = location.host;
start();
