/**
 * One JetStream message of a partition stream: the events one committed batch appended to that
 * partition, with the command ids and digests they carry, so the log of record alone rebuilds a node's
 * cache (events, partition index, command-id index).
 *
 * Payload: the msgpack values of the batch's commands, concatenated (one per command, in offset order):
 * `[aggregateType, stream, commandId | null, digest | null, [[seq, offset, type, data, ts, meta | null, schemaVersion?], ...]]`.
 * Each command is encoded when it is staged, so data msgpack cannot hold fails its own command and
 * nothing of the batch; the message is then the concatenation. Headers (plain text, readable with the
 * `nats` CLI): the first offset and the event count (the reader checks them against the events and the
 * partition's running offset), the writer's process epoch and, in cluster mode, the partition's lease
 * epoch, the writer's id, and a CRC-32 of the payload (JetStream keeps no checksum a client can see).
 *
 * A message with no payload and a count of 0 is a takeover marker: a new owner appends one, conditional
 * on the tip it caught up to, before it serves the partition (record-committer.ts, `confirmTip`); it
 * carries the owner's lease epoch and no events.
 *
 * Gotchas: this is the log of record's format. Changing the payload tuple or a header name makes
 * existing streams unreadable: add a field at the end, never reorder.
 */
import { Packr } from 'msgpackr';
import { ErrorCodes, RuntimeError, type EventEnvelope, type EventMeta } from '../../kernel/index.js';
import { crc32Of } from '../record-codec.js';
import { hasMeta } from '../stored-event.js';

export const HEADERS = {
  firstOffset: 'Eventide-First-Offset',
  count: 'Eventide-Count',
  epoch: 'Eventide-Epoch',
  leaseEpoch: 'Eventide-Lease-Epoch',
  writer: 'Eventide-Writer',
  crc: 'Eventide-Crc32',
  msgId: 'Nats-Msg-Id',
} as const;

/** The record codec's msgpack settings: plain msgpack, what a stage could encode a message can too. */
const packr = new Packr({ useRecords: false, moreTypes: false, mapsAsObjects: true });

type MessageEvent = [seq: number, offset: number, type: string, data: unknown, ts: number, meta: EventMeta | null, schemaVersion?: number];
type MessageCommand = [aggregateType: string, stream: string, commandId: string | null, digest: string | null, events: MessageEvent[]];

/** One command of a partition message, as staged. */
export interface CommandPart {
  readonly partition: number;
  readonly firstOffset: number;
  readonly count: number;
  readonly bytes: Buffer;
}

/** Encodes one command's events (all of one stream, one partition, consecutive offsets). Throws for data msgpack cannot hold. */
export function encodeCommand(events: readonly EventEnvelope[], commandId: string | undefined, digest: string | undefined): CommandPart {
  const first = events[0]!;
  const tuple: MessageCommand = [
    first.aggregateType,
    first.stream,
    commandId ?? null,
    digest ?? null,
    events.map((e) => {
      const m: MessageEvent = [e.seq, e.offset, e.type, e.data, e.ts, hasMeta(e.meta) ? e.meta : null];
      if (e.schemaVersion !== undefined && e.schemaVersion > 1) m[6] = e.schemaVersion;
      return m;
    }),
  ];
  return { partition: first.partition, firstOffset: first.offset, count: events.length, bytes: packr.pack(tuple) };
}

/** What a message's headers say about it. */
export interface MessageMeta {
  firstOffset: number;
  count: number;
  epoch: number;
  leaseEpoch: number | null;
  writer: string;
  crc: number;
  msgId: string;
}

/** The headers of a message holding `count` events from `firstOffset`. */
export function messageHeaders(meta: MessageMeta): [string, string][] {
  const out: [string, string][] = [
    [HEADERS.firstOffset, String(meta.firstOffset)],
    [HEADERS.count, String(meta.count)],
    [HEADERS.epoch, String(meta.epoch)],
    [HEADERS.writer, meta.writer],
    [HEADERS.crc, String(meta.crc)],
  ];
  if (meta.leaseEpoch !== null) out.push([HEADERS.leaseEpoch, String(meta.leaseEpoch)]);
  return out;
}

export function payloadCrc(payload: Uint8Array): number {
  return crc32Of(payload, 0, payload.length);
}

/** A header lookup (the client's `MsgHdrs.get`), or undefined for a message without headers. */
export type HeaderOf = (name: string) => string | undefined;

/** The message's headers, checked; `CorruptLog` naming the stream and seq for anything missing or malformed. */
export function readMeta(header: HeaderOf, where: string): MessageMeta {
  const int = (name: string, optional = false): number | null => {
    const raw = header(name);
    if ((raw === undefined || raw === '') && optional) return null;
    const n = Number(raw);
    if (raw === undefined || raw === '' || !Number.isSafeInteger(n) || n < 0) throw corruptMessage(where, `header ${name} is ${raw === undefined ? 'missing' : JSON.stringify(raw)}`);
    return n;
  };
  return {
    firstOffset: int(HEADERS.firstOffset)!,
    count: int(HEADERS.count)!,
    epoch: int(HEADERS.epoch)!,
    leaseEpoch: int(HEADERS.leaseEpoch, true),
    writer: header(HEADERS.writer) ?? '',
    crc: int(HEADERS.crc)!,
    msgId: header(HEADERS.msgId) ?? '',
  };
}

/**
 * The events of a message of `partition`, checked against its headers: the payload's checksum, the
 * first offset and the count, offsets consecutive. Returns each command's envelopes with its id and digest.
 */
export function decodeMessage(payload: Uint8Array, meta: MessageMeta, partition: number, where: string): { events: EventEnvelope[]; commandId?: string; digest?: string }[] {
  if (payloadCrc(payload) !== meta.crc) throw corruptMessage(where, 'the payload does not match its checksum');
  // A takeover marker (record-committer.ts, `confirmTip`): no events, only the new owner's lease epoch.
  if (meta.count === 0 && payload.length === 0) return [];
  let commands: MessageCommand[];
  try {
    commands = packr.unpackMultiple(Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength)) as MessageCommand[];
  } catch (err) {
    throw corruptMessage(where, `the payload does not decode (${(err as Error).message})`);
  }
  const out: { events: EventEnvelope[]; commandId?: string; digest?: string }[] = [];
  let offset = meta.firstOffset;
  for (const c of commands) {
    if (!Array.isArray(c) || c.length < 5 || typeof c[0] !== 'string' || typeof c[1] !== 'string' || !Array.isArray(c[4])) throw corruptMessage(where, 'a command is not [type, stream, commandId, digest, events]');
    const [aggregateType, stream, commandId, digest, list] = c;
    const events = list.map((m) => {
      if (!Array.isArray(m) || m[1] !== offset) throw corruptMessage(where, `an event sits at offset ${Array.isArray(m) ? m[1] : '?'} where ${offset} was expected`);
      offset++;
      const e: EventEnvelope = { aggregateType, stream, type: m[2], seq: m[0], data: m[3], ts: m[4], partition, offset: m[1], meta: m[5] ?? {} };
      if (m[6] !== undefined) e.schemaVersion = m[6];
      return e;
    });
    const part: { events: EventEnvelope[]; commandId?: string; digest?: string } = { events };
    if (commandId !== null) part.commandId = commandId;
    if (digest !== null) part.digest = digest;
    out.push(part);
  }
  if (offset - meta.firstOffset !== meta.count) throw corruptMessage(where, `it holds ${offset - meta.firstOffset} events, its header says ${meta.count}`);
  return out;
}

export function corruptMessage(where: string, why: string): RuntimeError {
  return new RuntimeError(ErrorCodes.CorruptLog, `the log of record is damaged at ${where}: ${why}`, { where });
}
