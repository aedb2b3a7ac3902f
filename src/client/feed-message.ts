/**
 * The feed's messages as the client reads them (docs/http-api.md, "WebSocket feed"): the hello, then
 * batches of events, each with the position just after it. Checked for the fields the client relies on
 * (a position, each event's partition and offset); anything else is not the server's message.
 */
import type { EventJson } from './types.js';

const POSITION = /^\d{1,16}(?:\.\d{1,16})*$/;

/** True for a position in its dotted form (the one the feed sends). */
export function isPosition(text: string): boolean {
  return POSITION.test(text);
}

export type FeedMessage = { kind: 'hello'; position: string } | { kind: 'events'; position: string; events: EventJson[]; bytes: number };

/** A feed message, checked for the fields the client relies on; undefined for anything else. Other kinds are skipped (`{ kind: 'other' }`). */
export function parseMessage(text: string): FeedMessage | { kind: 'other' } | undefined {
  let m: unknown;
  try {
    m = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof m !== 'object' || m === null) return undefined;
  const { kind, position, events } = m as { kind?: unknown; position?: unknown; events?: unknown };
  if (kind !== 'hello' && kind !== 'events') return typeof kind === 'string' ? { kind: 'other' } : undefined;
  if (typeof position !== 'string' || !isPosition(position)) return undefined;
  if (kind === 'hello') return { kind, position };
  if (!Array.isArray(events) || !events.every(isEvent)) return undefined;
  return { kind, position, events, bytes: text.length };
}

function isEvent(e: unknown): e is EventJson {
  if (typeof e !== 'object' || e === null) return false;
  const { partition, offset } = e as { partition?: unknown; offset?: unknown };
  return Number.isSafeInteger(partition) && Number.isSafeInteger(offset);
}

/** A text frame's text (a string everywhere but in a few servers' binary-typed frames). */
export function textOf(data: unknown): string | undefined {
  if (typeof data === 'string') return data;
  if (data instanceof ArrayBuffer) return new TextDecoder().decode(new Uint8Array(data));
  if (ArrayBuffer.isView(data)) return new TextDecoder().decode(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  return undefined;
}

/** A position's offsets (the dotted form only; the feed always sends that one). */
export function offsetsOf(position: string): number[] {
  return position.split('.').map(Number);
}
