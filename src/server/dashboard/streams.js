// The stream browser: one aggregate's events and its state, with two sliders over its versions (both
// 0..version, so they line up; "state at" stops at 1, the first state). "State
// at" moves the state through time (the time machine); "diff from" picks the second point, and the page
// shows what changed between the two (GET /aggregates/:type/:id/diff answers both states and the events
// between; the field-by-field table is diff.js's).

import { api, describeError } from './api.js';
import { $, cell, clockTime, el, jsonBlock, jsonLine, say } from './dom.js';
import { MAX_DIFF_ROWS, diffStates } from './diff.js';
import { onEvents, recentIds } from './live.js';

const PAGE = 1000;
const enc = encodeURIComponent;

/** The open stream: { type, id, version, events (seq order), next (next page's from, or null), from, to }. */
let s = null;
/** Bumped by each openStream, so a late answer for another stream is dropped. */
let opening = 0;

const base = (x) => `/aggregates/${enc(x.type)}/${enc(x.id)}`;

export function initStreams() {
  $('stream-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const id = $('stream-id').value.trim();
    if (id) location.hash = `#streams/${enc($('stream-type').value)}/${enc(id)}`;
  });
  $('stream-type').addEventListener('change', suggestIds);
  $('stream-id').addEventListener('focus', suggestIds);
  $('stream-to').addEventListener('input', () => setPoints(Math.min(s.from, Number($('stream-to').value)), Number($('stream-to').value)));
  $('stream-from').addEventListener('input', () => {
    const from = Number($('stream-from').value);
    setPoints(from, Math.max(from, s.to, 1));
  });
  $('stream-step-back').addEventListener('click', () => s && s.to > 1 && setPoints(Math.min(s.from, s.to - 2), s.to - 1));
  $('stream-step-forward').addEventListener('click', () => s && s.to < s.version && setPoints(s.to, s.to + 1));
  $('stream-more').addEventListener('click', () => s && loadEvents(s));
  // Click an event: what it changed (the diff from the version before it to its own).
  $('stream-events').addEventListener('click', (e) => {
    const tr = e.target.closest('tr[data-seq]');
    if (tr && s) setPoints(Number(tr.dataset.seq) - 1, Number(tr.dataset.seq));
  });
  onEvents(follow);
}

/** The aggregate types the server serves (from /health) and those seen on the feed. */
export function setStreamTypes(types) {
  const select = $('stream-type');
  const current = select.value;
  const have = new Set([...select.options].map((o) => o.value));
  for (const t of types) if (!have.has(t)) select.append(new Option(t, t));
  if (current) select.value = current;
}

function suggestIds() {
  $('stream-ids').replaceChildren(...recentIds($('stream-type').value).map((id) => new Option(id)));
}

/** Opens `type/id` (from the URL hash): its current version, its first page of events, the diff of its last event. */
export async function openStream(type, id) {
  setStreamTypes([type]);
  $('stream-type').value = type;
  $('stream-id').value = id;
  const mine = ++opening;
  say($('stream-message'), `loading ${type}/${id}…`);
  try {
    const head = await api(`${base({ type, id })}`);
    if (mine !== opening) return;
    const next = { type, id, version: head.version, events: [], next: 1, from: Math.max(0, head.version - 1), to: head.version };
    await loadEvents(next);
    if (mine !== opening) return;
    s = next;
    say($('stream-message'), '');
    $('stream-view').classList.remove('hidden');
    $('stream-title').textContent = `${type}/${id}`;
    setPoints(s.from, s.to);
  } catch (err) {
    if (mine !== opening) return;
    s = null;
    $('stream-view').classList.add('hidden');
    say($('stream-message'), err.code === 'StreamNotFound' ? `${type}/${id} has no events (${err.message})` : describeError(err), 'error');
  }
}

async function loadEvents(x) {
  if (x.next === null) return;
  const page = await api(`${base(x)}/events?from=${x.next}&limit=${PAGE}`);
  x.events.push(...page.events);
  x.next = page.next ?? null;
  if (x === s) renderEvents();
}

/** New events of the open stream arrive on the feed: the sliders grow; a slider at the end follows. */
function follow(batch) {
  if (!s) return;
  const mine = batch.filter((e) => e.aggregateType === s.type && e.stream === s.id && e.seq > s.version);
  if (mine.length === 0) return;
  const atEnd = s.to === s.version;
  // Loaded pages hold seqs 1..n in order: append only what continues them, once every page is loaded.
  for (const e of [...mine].sort((a, b) => a.seq - b.seq)) if (s.next === null && e.seq === s.events.length + 1) s.events.push(e);
  s.version = Math.max(s.version, ...mine.map((e) => e.seq));
  if (atEnd) setPoints(Math.max(0, s.version - 1), s.version);
  else setPoints(s.from, s.to);
}

function setPoints(from, to) {
  if (!s) return;
  s.to = Math.max(1, Math.min(s.version, to));
  s.from = Math.max(0, Math.min(s.to, from));
  const sliderTo = $('stream-to');
  sliderTo.max = String(s.version);
  sliderTo.value = String(s.to);
  const sliderFrom = $('stream-from');
  sliderFrom.max = String(s.version);
  sliderFrom.value = String(s.from);
  $('stream-version').textContent = `version ${s.version} · ${s.version === 1 ? '1 event' : `${s.version.toLocaleString()} events`}`;
  $('stream-to-label').textContent = pointLabel(s.to);
  $('stream-from-label').textContent = s.from === 0 ? 'version 0 · before the first event' : pointLabel(s.from);
  $('stream-step-back').disabled = s.to <= 1;
  $('stream-step-forward').disabled = s.to >= s.version;
  renderEvents();
  requestDiff();
}

function pointLabel(version) {
  const e = s.events[version - 1];
  return e ? `version ${version} · ${clockTime(e.ts)} · ${e.type}` : `version ${version}`;
}

// ---------------------------------------------------------------- the diff (one request at a time, latest wins)

let wanted = null;
let fetching = false;

function requestDiff() {
  wanted = { stream: s, from: s.from, to: s.to };
  if (!fetching) void fetchDiffs();
}

async function fetchDiffs() {
  fetching = true;
  while (wanted) {
    const w = wanted;
    wanted = null;
    try {
      const d = await api(`${base(w.stream)}/diff?from=${w.from}&to=${w.to}`);
      if (!wanted && w.stream === s) renderDiff(d);
    } catch (err) {
      if (w.stream === s) say($('stream-message'), describeError(err), 'error');
    }
  }
  fetching = false;
}

function renderDiff(d) {
  const state = $('stream-state');
  state.textContent = jsonBlock(d.to.state);
  state.dataset.version = String(d.to.version);
  $('stream-at').textContent = String(d.to.version);
  const rows = diffStates(d.from.state, d.to.state);
  const changes = rows.length >= MAX_DIFF_ROWS ? `${MAX_DIFF_ROWS}+ fields` : `${rows.length} field${rows.length === 1 ? '' : 's'}`;
  const events = `${d.events.length} event${d.events.length === 1 ? '' : 's'}`;
  $('stream-diff-title').textContent = `Diff from version ${d.from.version} to ${d.to.version}: ${events}, ${changes} changed`;
  const body = $('stream-diff');
  body.dataset.from = String(d.from.version);
  body.dataset.to = String(d.to.version);
  body.replaceChildren(
    ...rows.map((r) => {
      const tr = el('tr', r.kind);
      tr.append(cell('path', r.path), cell('kind', r.kind), cell('from', jsonLine(r.from)), cell('to', jsonLine(r.to)));
      return tr;
    }),
  );
  $('stream-diff-empty').classList.toggle('hidden', rows.length > 0);
  $('stream-diff-events').textContent = d.events.length ? `events: ${d.events.map((e) => `${e.seq} ${e.type}`).join(', ')}` : '';
}

function renderEvents() {
  if (!s) return;
  $('stream-events').replaceChildren(
    ...s.events.map((e) => {
      const tr = el('tr', e.seq > s.to ? 'future' : e.seq > s.from ? (e.seq === s.to ? 'in-diff at' : 'in-diff') : '');
      tr.dataset.seq = String(e.seq);
      tr.title = 'show what this event changed';
      tr.append(el('td', 'num', e.seq), el('td', 'num', clockTime(e.ts)), cell('etype', e.type), cell('data', jsonLine(e.data)));
      return tr;
    }),
  );
  const loaded = s.events.length;
  $('stream-events-hint').textContent = s.next === null ? `${loaded.toLocaleString()} events` : `first ${loaded.toLocaleString()} of ${s.version.toLocaleString()}`;
  $('stream-more').hidden = s.next === null;
}
