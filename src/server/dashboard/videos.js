// The "Videos" tab: each video's thumbnail, status, progress and renditions, live, and a player.
//
// Cards follow the feed's video events at once (status and progress need no request), then ask
// GET /videos/:id for what only the server knows: rendition URLs and the thumbnail. On a server without
// the video routes (an embedding program), the cards still follow the feed.

import { api, mediaUrl } from './api.js';
import { $, el, progressBar } from './dom.js';
import { onEvents } from './live.js';

const MAX_VIDEOS = 48;
const REFRESH_DELAY_MS = 300;

/** id -> { id, status, progress, attempt, renditions: [{ height, url? }], thumbnail?, reason?, updated } */
const videos = new Map();
let updates = 0;
let routes = true;
const pending = new Map();
/** Thumbnail blob: URLs made with a token, by video id, revoked when replaced. */
const thumbs = new Map();
let playerBlob = null;

export function initVideos() {
  onEvents((batch) => {
    let changed = false;
    for (const e of batch) if (e.aggregateType === 'video') changed = applyEvent(e) || changed;
    if (changed) render();
  });
  const onRendition = (e) => {
    const link = e.target.closest('a.rendition');
    if (!link) return;
    e.preventDefault();
    void play(link.dataset.id, Number(link.dataset.height));
  };
  $('videos').addEventListener('click', onRendition);
  $('player-links').addEventListener('click', onRendition);
}

/** Loads the list from GET /videos (once the page starts, and when a token is given). */
export async function loadVideos() {
  try {
    const body = await api(`/videos?limit=${MAX_VIDEOS}`);
    for (const v of body.videos) merge(v);
    render();
  } catch (err) {
    if (err.status === 404) routes = false;
  }
}

function video(id) {
  let v = videos.get(id);
  if (!v) {
    v = { id, status: 'UPLOADED', progress: 0, attempt: 0, renditions: [], reason: null, updated: 0 };
    videos.set(id, v);
  }
  return v;
}

/** What the server's GET /videos/:id says. */
function merge(view) {
  const v = video(view.id);
  Object.assign(v, {
    status: view.status,
    progress: view.progress,
    attempt: view.attempt,
    renditions: view.renditions.map((r) => ({ height: r.height, url: r.url, bytes: r.bytes })),
    thumbnail: view.thumbnail ?? null,
    reason: view.error?.reason ?? (view.status === 'CANCELLED' ? 'cancelled' : null),
    updated: v.updated || ++updates,
  });
}

function applyEvent(e) {
  const v = video(e.stream);
  const d = e.data || {};
  switch (e.type) {
    case 'VideoUploaded':
      v.status = 'UPLOADED';
      break;
    case 'VideoProcessingStarted':
      Object.assign(v, { status: 'PROCESSING', attempt: d.attempt, progress: 0, renditions: [], reason: null });
      break;
    case 'VideoProcessingProgressed':
      v.status = 'PROCESSING';
      v.progress = Math.max(v.progress, Number(d.percent) || 0);
      break;
    case 'RenditionCompleted':
      if (!v.renditions.some((r) => r.height === d.height)) v.renditions.push({ height: d.height });
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
  v.updated = ++updates;
  refreshLater(v.id);
  return true;
}

/** Asks the server for the video's view shortly, once for a burst of events. */
function refreshLater(id) {
  if (!routes || pending.has(id)) return;
  pending.set(
    id,
    setTimeout(async () => {
      pending.delete(id);
      try {
        merge(await api(`/videos/${encodeURIComponent(id)}`));
        render();
      } catch (err) {
        if (err.status === 404 && err.code === 'NotFound') routes = false;
      }
    }, REFRESH_DELAY_MS),
  );
}

function render() {
  const list = [...videos.values()].sort((a, b) => b.updated - a.updated).slice(0, MAX_VIDEOS);
  $('videos').replaceChildren(...list.map(card));
  $('videos-empty').classList.toggle('hidden', list.length > 0);
  $('video-count').textContent = videos.size ? `${videos.size} tracked` : 'none yet';
}

function card(v) {
  const li = el('li', `video ${v.status}`);
  li.dataset.id = v.id;
  const thumb = el('div', 'thumb');
  if (v.thumbnail) {
    const img = el('img');
    img.alt = `thumbnail of ${v.id}`;
    img.loading = 'lazy';
    void thumbnailSrc(v).then((src) => (img.src = src), () => img.replaceWith(el('span', 'no-thumb', 'thumbnail refused')));
    thumb.append(img);
  } else {
    thumb.append(el('span', 'no-thumb', v.status === 'SUCCEEDED' ? 'no thumbnail' : 'no thumbnail yet'));
  }
  const top = el('div', 'video-top');
  top.append(el('span', 'video-id', v.id), el('span', `badge ${v.status}`, v.status));
  const foot = el('div', 'video-foot');
  foot.append(el('span', 'progress', `${v.progress}%`));
  if (v.reason) foot.append(el('span', 'reason', v.reason));
  else if (v.renditions.length) {
    const links = el('span', 'renditions');
    for (const r of [...v.renditions].sort((a, b) => a.height - b.height)) {
      if (!r.url) {
        links.append(el('span', 'rendition pending', `${r.height}p`));
        continue;
      }
      const a = el('a', 'rendition', `${r.height}p`);
      a.href = r.url;
      a.dataset.id = v.id;
      a.dataset.height = String(r.height);
      a.title = `play the ${r.height}p rendition`;
      links.append(a);
    }
    foot.append(links);
  } else foot.append(el('span', '', v.attempt ? `attempt ${v.attempt}` : ''));
  const body = el('div', 'video-body');
  body.append(top, progressBar(v.progress), foot);
  li.append(thumb, body);
  return li;
}

async function thumbnailSrc(v) {
  const cached = thumbs.get(v.id);
  if (cached && cached.url === v.thumbnail) return cached.src;
  const src = await mediaUrl(v.thumbnail);
  if (src.startsWith('blob:')) {
    if (cached) URL.revokeObjectURL(cached.src);
    thumbs.set(v.id, { url: v.thumbnail, src });
  }
  return src;
}

/** Plays a rendition in the player (fetched whole with the token when there is one). */
async function play(id, height) {
  const v = videos.get(id);
  const r = v?.renditions.find((x) => x.height === height);
  if (!r?.url) return;
  const player = $('player');
  player.classList.remove('hidden');
  $('player-title').textContent = `${id} · ${height}p`;
  $('player-links').replaceChildren(
    ...v.renditions
      .filter((x) => x.url)
      .map((x) => {
        const a = el('a', x.height === height ? 'rendition current' : 'rendition', `${x.height}p`);
        a.href = x.url;
        a.dataset.id = id;
        a.dataset.height = String(x.height);
        return a;
      }),
  );
  const video = $('player-video');
  try {
    // The thumbnail is the poster: the player shows a frame before it plays.
    video.poster = v.thumbnail ? await thumbnailSrc(v).catch(() => '') : '';
    const src = await mediaUrl(r.url);
    if (playerBlob) URL.revokeObjectURL(playerBlob);
    playerBlob = src.startsWith('blob:') ? src : null;
    video.src = src;
    video.dataset.id = id;
    video.dataset.height = String(height);
    $('player-message').textContent = '';
  } catch (err) {
    $('player-message').textContent = `cannot load the rendition: ${err.message}`;
  }
  player.scrollIntoView({ block: 'nearest' });
}
