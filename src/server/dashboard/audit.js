// The "Audit log" panel of the Admin tab: the audit stream ($audit/lifecycle) from GET /admin/audit,
// newest first: every retention change, deletion, forgotten subject and scavenge pass, with who asked.
// Refreshed when the tab opens, on Refresh, and when the live feed brings a new $audit event while the
// newest page is showing (an operator reading older pages is not yanked back). Admin scope: a 401 opens
// the token form (api.js), a 403 says which scope is missing.

import { api, describeError } from './api.js';
import { $, cell, dateTime, el, hashLink, jsonLine, say } from './dom.js';
import { onEvents } from './live.js';

const AUDIT_TYPE = '$audit';
const PAGE = 50;

const state = {
  shown: false,
  /** The `before` of the page showing (null: the newest page). */
  before: null,
  /** The `before` of the next older page, when there is one. */
  older: null,
  loading: false,
  /** The page asked for while a load was running (a click, a feed event), loaded after it; undefined: none. */
  pending: undefined,
};

export function initAudit() {
  $('audit-refresh').addEventListener('click', () => void load(null));
  $('audit-newest').addEventListener('click', () => void load(null));
  $('audit-older').addEventListener('click', () => {
    if (state.older !== null) void load(state.older);
  });
  onEvents((events) => {
    if (state.shown && state.before === null && events.some((e) => e.aggregateType === AUDIT_TYPE)) void load(null);
  });
}

export function showAudit(on) {
  state.shown = on;
  if (on) void load(state.before);
}

async function load(before) {
  if (state.loading) {
    state.pending = before;
    return;
  }
  state.loading = true;
  $('audit-refresh').disabled = true;
  try {
    const page = await api(`/admin/audit?limit=${PAGE}${before === null ? '' : `&before=${before}`}`);
    state.before = before;
    state.older = page.older ?? null;
    show(page);
    say($('audit-message'), '');
  } catch (err) {
    say($('audit-message'), describeError(err, 'admin'), 'error');
  } finally {
    state.loading = false;
    $('audit-refresh').disabled = false;
  }
  if (state.pending !== undefined) {
    const next = state.pending;
    state.pending = undefined;
    await load(next);
  }
}

function show(page) {
  $('audit-records').replaceChildren(
    ...page.records.map((r) => {
      const tr = el('tr');
      tr.dataset.seq = String(r.seq);
      tr.dataset.kind = r.kind;
      tr.append(el('td', 'num', r.seq), cell('', dateTime(r.ts)), el('td', 'etype', r.kind), targetCell(r.target), cell('', r.by ?? '(none)'), cell('json', jsonLine(r.details)));
      return tr;
    }),
  );
  $('audit-empty').classList.toggle('hidden', page.records.length > 0 || state.before !== null);
  $('audit-older').disabled = state.older === null;
  $('audit-newest').disabled = state.before === null;
  const first = page.records[0];
  const last = page.records.at(-1);
  $('audit-hint').textContent = first ? `records ${last.seq}–${first.seq} of ${page.head} · newest first` : `${page.head} records · newest first`;
}

/** A stream links to the stream browser; a type is every stream of it; a subject is a data subject. */
function targetCell(target) {
  const td = el('td', 'target');
  if (target.aggregateType && target.id) td.append(hashLink(`streams/${target.aggregateType}/${target.id}`, `${target.aggregateType}/${target.id}`));
  else if (target.aggregateType) td.textContent = `${target.aggregateType} (every stream)`;
  if (target.subject) td.append(`${td.textContent ? ' · ' : ''}subject ${target.subject}`);
  td.title = td.textContent;
  return td;
}
