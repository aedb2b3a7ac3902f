/**
 * The bodies of the aggregate read routes (`GET /aggregates/:type/:id`, `.../events` and `.../diff`),
 * built in one place: the routes answer them, and in cluster mode the owner of a partition answers them
 * to a member that forwarded the read (cluster-routing.ts), so a read through any server has the same shape.
 */
import { ErrorCodes, RuntimeError } from '../kernel/index.js';
import type { LoadOptions, Runtime } from '../runtime/index.js';
import { envelopeJson, type EnvelopeJson } from './envelope-json.js';

export interface StateReply {
  id: string;
  type: string;
  version: number;
  state: unknown;
}

export interface HistoryReply {
  events: EnvelopeJson[];
  /** The `from` of the next page, when there is one. */
  next?: number;
}

export async function stateBody(runtime: Runtime, type: string, id: string, options: LoadOptions): Promise<StateReply> {
  const r = await runtime.load(type, id, options);
  return { id: r.id, type: r.type, version: r.version, state: r.state };
}

/**
 * A page of `limit` events from seq `from` (absent: the first readable version, 1 unless retention cut
 * the stream); `next` when the stream has more (its head is past the page).
 */
export async function historyPage(runtime: Runtime, type: string, id: string, from: number | undefined, limit: number): Promise<HistoryReply> {
  const events = await runtime.history(type, id, from === undefined ? { limit } : { from, limit });
  const last = events[events.length - 1];
  const more = last !== undefined && events.length === limit && last.seq < runtime.log.streamHead(type, id).version;
  return { events: events.map(envelopeJson), ...(more ? { next: last.seq + 1 } : {}) };
}

export interface DiffReply {
  id: string;
  type: string;
  from: { version: number; state: unknown };
  to: { version: number; state: unknown };
  events: EnvelopeJson[];
}

/** The diff between two points as the route takes them (`pointOf`): the states at both and the events between. */
export async function diffBody(runtime: Runtime, type: string, id: string, from: string, to: string): Promise<DiffReply> {
  const d = await runtime.diff(type, id, pointOf(from, 'from'), pointOf(to, 'to'));
  return {
    id,
    type,
    from: d.from ? { version: d.from.version, state: d.from.state } : { version: 0, state: null },
    to: { version: d.to.version, state: d.to.state },
    events: d.events.map(envelopeJson),
  };
}

/**
 * An ISO-8601 date (`2026-12-01`, UTC midnight) or date-time with a zone (`Z` or `+01:00`). Not whatever
 * `Date.parse` happens to accept (`Tue, 01 Dec 2026`, or a zone-less time read in the server's own zone).
 */
const ISO_8601 = /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2}))?$/;

/** ISO_8601's shape, a real calendar day (`Date.parse` turns 2026-02-30 into March 2) and a real time. */
export function isIsoTime(raw: string): boolean {
  if (!ISO_8601.test(raw) || !Number.isFinite(Date.parse(raw))) return false;
  const [y, m, d] = raw.slice(0, 10).split('-').map(Number) as [number, number, number];
  return new Date(Date.UTC(y, m - 1, d)).getUTCDate() === d;
}

/** `12` is version 12; `t:1764000000000` is epoch ms; anything else must be an ISO-8601 time. */
export function pointOf(raw: string, name: 'from' | 'to'): LoadOptions {
  if (/^\d{1,15}$/.test(raw)) return { version: Number(raw) };
  if (/^t:\d{1,15}$/.test(raw)) return { at: Number(raw.slice(2)) };
  if (!isIsoTime(raw)) {
    throw new RuntimeError(ErrorCodes.InvalidQuery, `${name}: a diff point is a version, an ISO-8601 time (2026-12-01T10:00:00Z) or t:<epoch ms>; got ${JSON.stringify(raw.slice(0, 64))}`, { field: name });
  }
  return { at: raw };
}

