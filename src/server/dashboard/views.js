// The "Views" tab: the rows of each read model, a page at a time in id order (GET /views/:name), with
// the view's lag. A row's fields become the table's columns.

import { api, describeError } from './api.js';
import { $, cell, el, jsonLine, say } from './dom.js';

const PAGE = 50;

/** The page shown: { name, after (undefined: first page), next, pages (the `after` of each earlier page) }. */
let shown = { name: '', after: undefined, next: undefined, pages: [] };

export function initViews() {
  $('view-name').addEventListener('change', () => load($('view-name').value));
  $('view-refresh').addEventListener('click', () => load(shown.name, shown.after, shown.pages));
  $('view-next').addEventListener('click', () => shown.next !== undefined && load(shown.name, shown.next, [...shown.pages, shown.after]));
  $('view-prev').addEventListener('click', () => shown.pages.length && load(shown.name, shown.pages.at(-1), shown.pages.slice(0, -1)));
}

/** The read models the server has (from /console/stats), for this tab's and the admin tab's pickers. */
export function setViewNames(names) {
  for (const id of ['view-name', 'admin-view']) {
    const select = $(id);
    const current = select.value;
    select.replaceChildren(...names.map((n) => new Option(n, n)));
    if (names.includes(current)) select.value = current;
  }
}

export function showViews(on) {
  if (on) void load($('view-name').value || shown.name, shown.after, shown.pages);
}

async function load(name, after, pages = []) {
  if (!name) return;
  try {
    const body = await api(`/views/${encodeURIComponent(name)}?limit=${PAGE}${after === undefined ? '' : `&after=${encodeURIComponent(after)}`}`);
    shown = { name, after, next: body.next, pages };
    render(body);
    say($('view-message'), '');
  } catch (err) {
    say($('view-message'), describeError(err), 'error');
  }
}

function render(body) {
  const rows = body.rows;
  const fields = [...new Set(rows.flatMap((r) => (r.row && typeof r.row === 'object' ? Object.keys(r.row) : [])))];
  const head = el('tr');
  head.append(el('th', '', 'id'), ...fields.map((f) => el('th', '', f)));
  $('view-head').replaceChildren(head);
  $('view-rows').replaceChildren(
    ...rows.map((r) => {
      const tr = el('tr');
      tr.dataset.id = r.id;
      tr.append(cell('id', r.id), ...fields.map((f) => cell(typeof r.row?.[f] === 'number' ? 'num' : '', format(r.row?.[f], f))));
      return tr;
    }),
  );
  const lag = body.lag.reduce((n, l) => n + l.lag, 0);
  const first = shown.pages.length * PAGE + 1;
  $('view-summary').textContent = rows.length
    ? `rows ${first.toLocaleString()}–${(first + rows.length - 1).toLocaleString()} · ${lag ? `${lag.toLocaleString()} events behind the log` : 'up to date'}`
    : `no rows · ${lag ? `${lag.toLocaleString()} events behind the log` : 'up to date'}`;
  $('view-next').disabled = body.next === undefined;
  $('view-prev').disabled = shown.pages.length === 0;
}

/** Epoch ms in a field named like a time (`updatedAt`) is shown as an ISO time. */
const TIME_FIELD = /(?:At|Time|Ts)$|^ts$/;
const YEAR_2001 = 978_307_200_000;

function format(v, field) {
  if (v === undefined || v === null) return '';
  if (typeof v === 'number' && TIME_FIELD.test(field) && v > YEAR_2001 && v < 8.64e15) return new Date(v).toISOString();
  return typeof v === 'object' ? jsonLine(v) : String(v);
}
