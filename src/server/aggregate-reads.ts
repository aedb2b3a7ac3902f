/**
 * The bodies of the aggregate read routes (`GET /aggregates/:type/:id` and `.../events`), built in one
 * place: the routes answer them, and in cluster mode the owner of a partition answers them to a
 * member that forwarded the read (cluster-routing.ts), so a read through any server has the same shape.
 */
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
