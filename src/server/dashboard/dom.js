// Small DOM helpers shared by the console's modules. Everything from the server reaches the page through
// textContent (or a CSS width, or an attribute that is not a URL the page did not make): event data is
// user input (owner names, failure reasons, ids).

export const $ = (id) => document.getElementById(id);

/** An element with a class and a text (both optional). */
export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

/** A table cell whose full text is also its tooltip (cells are cut with an ellipsis). */
export function cell(className, text) {
  const td = el('td', className, text);
  td.title = String(text);
  return td;
}

/** JSON as one line (for table cells). */
export function jsonLine(value) {
  return value === undefined ? '' : JSON.stringify(value);
}

/** JSON, indented (for <pre> blocks). */
export function jsonBlock(value) {
  return value === undefined ? '' : JSON.stringify(value, null, 2);
}

const pad = (n, w = 2) => String(n).padStart(w, '0');

/** HH:MM:SS.mmm in the browser's zone, or '' for something that is not a time. */
export function clockTime(ts) {
  const d = new Date(ts);
  if (Number.isNaN(d.getTime())) return '';
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

/** YYYY-MM-DD HH:MM:SS in the browser's zone (for records that span days), or '' for something that is not a time. */
export function dateTime(ts) {
  const d = new Date(ts);
  if (Number.isNaN(d.getTime())) return '';
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** A link to another part of the console (`#streams/account/acc-1`). */
export function hashLink(hash, text, className) {
  const a = el('a', className, text);
  a.href = `#${hash.split('/').map(encodeURIComponent).join('/')}`;
  return a;
}

/** A progress bar (role=progressbar) at `percent`. */
export function progressBar(percent) {
  const value = Math.max(0, Math.min(100, Number(percent) || 0));
  const bar = el('div', 'bar');
  bar.setAttribute('role', 'progressbar');
  bar.setAttribute('aria-valuenow', String(value));
  bar.setAttribute('aria-valuemin', '0');
  bar.setAttribute('aria-valuemax', '100');
  const fill = el('span');
  fill.style.width = `${value}%`;
  bar.append(fill);
  return bar;
}

/** A simple table body from rows of cell texts. */
export function fillTable(tbody, rows) {
  tbody.replaceChildren(
    ...rows.map((cells) => {
      const tr = el('tr');
      tr.append(...cells.map((c) => (c instanceof Node ? c : cell('', c))));
      return tr;
    }),
  );
}

/** Shows a message in a status line; `kind` is 'error', 'ok' or '' (plain). */
export function say(node, text, kind = '') {
  node.textContent = text;
  node.className = `status-line ${kind}`.trim();
}
