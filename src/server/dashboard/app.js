// The operations console: one page, six tabs (live tail, stream browser, lag, views, videos, admin),
// plain DOM, no framework. This module routes between the tabs (the URL hash: #live, #streams/<type>/<id>,
// #lag, #views, #videos, #admin), owns the token form, and starts the others.

import { api, onTokenChange, onUnauthorized, setToken, token } from './api.js';
import { $ } from './dom.js';
import { initAdmin, showAdmin } from './admin.js';
import { initAudit, showAudit } from './audit.js';
import { initLag, showLag } from './lag.js';
import { initTail, seenTypes, startFeed, stopFeed } from './live.js';
import { initStreams, openStream, setStreamTypes } from './streams.js';
import { initVideos, loadVideos } from './videos.js';
import { initViews, setViewNames, showViews } from './views.js';

const TABS = ['live', 'streams', 'lag', 'views', 'videos', 'admin'];
const onShow = {
  lag: showLag,
  views: showViews,
  admin: (on) => {
    showAdmin(on);
    showAudit(on);
  },
};
let current = null;

function route() {
  const [tab, ...rest] = location.hash.replace(/^#/, '').split('/').map((p) => {
    try {
      return decodeURIComponent(p);
    } catch {
      return '';
    }
  });
  const name = TABS.includes(tab) ? tab : 'live';
  if (name !== current) {
    if (current) onShow[current]?.(false);
    current = name;
    for (const t of TABS) {
      $(`tab-${t}`).hidden = t !== name;
      const link = $(`nav-${t}`);
      link.setAttribute('aria-selected', String(t === name));
      link.classList.toggle('current', t === name);
    }
    onShow[name]?.(true);
  }
  if (name === 'streams' && rest.length === 2 && rest[0] && rest[1]) void openStream(rest[0], rest[1]);
}

// ---------------------------------------------------------------- the token

function askForToken(problem) {
  $('auth').classList.remove('hidden');
  $('auth-error').textContent = problem;
  $('auth-token').focus();
}

function showTokenState() {
  $('token-state').textContent = token() ? 'token set' : 'no token';
  $('auth-forget').hidden = !token();
}

onUnauthorized(() => {
  stopFeed();
  askForToken(token() ? 'the server refused this token' : '');
});

$('auth').addEventListener('submit', (e) => {
  e.preventDefault();
  const value = $('auth-token').value.trim();
  if (!value) return;
  $('auth-token').value = '';
  $('auth').classList.add('hidden');
  $('auth-error').textContent = '';
  setToken(value);
});
$('auth-forget').addEventListener('click', () => {
  $('auth').classList.add('hidden');
  setToken(null);
});
$('token-button').addEventListener('click', () => ($('auth').classList.contains('hidden') ? askForToken('') : $('auth').classList.add('hidden')));

onTokenChange(() => {
  showTokenState();
  stopFeed();
  void boot();
});

// ---------------------------------------------------------------- start

/** What the tabs need to know about the server: its aggregate types and read models. */
async function loadMeta() {
  try {
    const health = await api('/health');
    setStreamTypes(health.aggregateTypes ?? []);
  } catch {
    setStreamTypes(seenTypes());
  }
  try {
    // Only the names: a `since` in the far future answers no sample.
    const stats = await api(`/console/stats?since=${Number.MAX_SAFE_INTEGER}`);
    setViewNames(stats.views);
  } catch {
    // No token yet (the form is showing) or the server is starting: the tabs say so when opened.
  }
}

async function boot() {
  await startFeed();
  await loadMeta();
  await loadVideos();
  if (current) onShow[current]?.(true);
}

initTail();
initStreams();
initLag();
initViews();
initVideos();
initAdmin();
initAudit();
showTokenState();
window.addEventListener('hashchange', route);
route();
void boot();
