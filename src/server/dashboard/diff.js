// The difference between two states of an aggregate, as the rows a table shows: one per leaf that
// changed, with its path (`balance`, `renditions[1].height`), its kind and both values. Pure: no DOM.

/** At most this many rows (a state with thousands of changed leaves is summarised by its count). */
export const MAX_DIFF_ROWS = 500;

const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

function same(a, b) {
  return JSON.stringify(a) === JSON.stringify(b);
}

function join(path, key) {
  return /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key) ? (path ? `${path}.${key}` : key) : `${path}[${JSON.stringify(key)}]`;
}

/**
 * [{ path, kind: 'added' | 'removed' | 'changed', from, to }] from `a` to `b`. A missing state (`null`,
 * before the first event) counts as an empty object, so every field of `b` is "added".
 */
export function diffStates(a, b) {
  const rows = [];
  walk(a ?? (isObject(b) ? {} : a), b ?? (isObject(a) ? {} : b), '', rows);
  return rows;
}

function walk(a, b, path, rows) {
  if (rows.length >= MAX_DIFF_ROWS) return;
  if (isObject(a) && isObject(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    for (const k of keys) {
      if (rows.length >= MAX_DIFF_ROWS) return;
      if (!Object.hasOwn(a, k)) rows.push({ path: join(path, k), kind: 'added', from: undefined, to: b[k] });
      else if (!Object.hasOwn(b, k)) rows.push({ path: join(path, k), kind: 'removed', from: a[k], to: undefined });
      else walk(a[k], b[k], join(path, k), rows);
    }
    return;
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    for (let i = 0; i < Math.max(a.length, b.length) && rows.length < MAX_DIFF_ROWS; i++) {
      const p = `${path}[${i}]`;
      if (i >= a.length) rows.push({ path: p, kind: 'added', from: undefined, to: b[i] });
      else if (i >= b.length) rows.push({ path: p, kind: 'removed', from: a[i], to: undefined });
      else walk(a[i], b[i], p, rows);
    }
    return;
  }
  if (!same(a, b)) rows.push({ path: path || '(state)', kind: 'changed', from: a, to: b });
}
