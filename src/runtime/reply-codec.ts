/**
 * The compact reply codec: how a command's answer crosses the thread boundary, both ends of it. The
 * actor host encodes (`errorReply`, `fullReply`, `freshReply`); the worker slot on the main thread
 * decodes (`decodeResult`). The replies of one drain then travel packed together (wire.ts).
 *
 * Why compact: the common case (a command that just committed) has events that share aggregate,
 * stream, ts, partition and meta, with contiguous seqs and offsets; so only [type, data] pairs travel,
 * and the main side rebuilds the envelopes from the request it still holds (packing whole envelopes cost
 * more than the rest of the command).
 * - [rid, Error, error]
 * - [rid, Many, version, state, ts, partition, firstOffset, types[], datas[]]  (fresh commit)
 * - [rid, Full, result]  (the whole result: a duplicate, whose events come from the log)
 * - [rid, One, version, state, ts, partition, offset, type, data]  (fresh commit of exactly one event,
 *   the usual case: two arrays fewer to build, pack and unpack per command)
 * Many and One end with the events' schema versions (Many: `schemaVersions`, 1 where an event has none;
 * One: `schemaVersion`) only when an event has one (Decider.events): nothing more travels, and nothing
 * more is built, for unversioned events.
 *
 * Gotchas:
 * - The kinds are numbers on the wire: renumbering one changes the format. Both ends are always the
 *   same build (protocol.ts), so nothing else needs to follow, but keep the values as they are.
 * - Decoding relies on the request: a compact reply is only meaningful next to the CommandRequest it
 *   answers (same aggregate, stream and meta ids), and its seqs end at `version`.
 */
import { serializeError, type EventEnvelope, type SerializedError } from '../kernel/index.js';
import { metaOf, type CommandRequest, type CommandResult } from './protocol.js';

/** The second element of every wire reply: which shape the rest has. */
export const ReplyKind = { Error: 0, Many: 1, Full: 2, One: 3 } as const;
export type ReplyKind = (typeof ReplyKind)[keyof typeof ReplyKind];

/** A command reply as it crosses the thread boundary (see the header). */
export type WireReply =
  | [rid: number, kind: typeof ReplyKind.Error, error: SerializedError]
  | [rid: number, kind: typeof ReplyKind.Many, version: number, state: unknown, ts: number, partition: number, firstOffset: number, types: string[], datas: unknown[], schemaVersions?: number[]]
  | [rid: number, kind: typeof ReplyKind.Full, result: CommandResult]
  | [rid: number, kind: typeof ReplyKind.One, version: number, state: unknown, ts: number, partition: number, offset: number, type: string, data: unknown, schemaVersion?: number];

/** Every reply that answers with a result (all but Error). */
export type ResultReply = Exclude<WireReply, { 1: typeof ReplyKind.Error }>;

// ------------------------------------------------------------ the actor host's end (encode)

export function errorReply(rid: number, error: unknown): WireReply {
  return [rid, ReplyKind.Error, serializeError(error)];
}

/** The whole result, events and all (duplicates: their events were read from the log). */
export function fullReply(rid: number, result: CommandResult): WireReply {
  return [rid, ReplyKind.Full, result];
}

/** A fresh commit's result: `first` is `result.events[0]` (the caller has checked there is one). */
export function freshReply(rid: number, result: CommandResult, first: EventEnvelope): WireReply {
  const events = result.events;
  if (events.length === 1) {
    const reply: WireReply = [rid, ReplyKind.One, result.version, result.state, first.ts, first.partition, first.offset, first.type, first.data];
    if (first.schemaVersion !== undefined) reply[9] = first.schemaVersion;
    return reply;
  }
  const reply: WireReply = [rid, ReplyKind.Many, result.version, result.state, first.ts, first.partition, first.offset, events.map(typeOf), events.map(dataOf)];
  if (events.some(hasSchemaVersion)) reply[9] = events.map(schemaVersionOf);
  return reply;
}

const typeOf = (e: EventEnvelope): string => e.type;
const dataOf = (e: EventEnvelope): unknown => e.data;
const hasSchemaVersion = (e: EventEnvelope): boolean => e.schemaVersion !== undefined;
const schemaVersionOf = (e: EventEnvelope): number => e.schemaVersion ?? 1;

// ------------------------------------------------------------ the worker slot's end (decode)

/**
 * The result a reply carries; a compact one is rebuilt from the request it answers. Each envelope gets
 * its own `meta` object: they are the caller's to keep.
 */
export function decodeResult(r: ResultReply, req: CommandRequest): CommandResult {
  if (r[1] === ReplyKind.Full) return r[2];
  if (r[1] === ReplyKind.One) {
    const [, , version, state, ts, partition, offset, type, data, schemaVersion] = r;
    const meta = req.commandId === undefined && req.correlationId === undefined && req.causationId === undefined ? {} : metaOf(req);
    const event: EventEnvelope = { aggregateType: req.aggregateType, stream: req.id, type, seq: version, data, ts, partition, offset, meta };
    if (schemaVersion !== undefined) event.schemaVersion = schemaVersion;
    return { version, events: [event], state };
  }
  const [, , version, state, ts, partition, firstOffset, types, datas, schemaVersions] = r;
  const plain = req.commandId === undefined && req.correlationId === undefined && req.causationId === undefined;
  const firstSeq = version - types.length + 1;
  const events: EventEnvelope[] = new Array(types.length);
  for (let i = 0; i < types.length; i++) {
    events[i] = { aggregateType: req.aggregateType, stream: req.id, type: types[i]!, seq: firstSeq + i, data: datas[i], ts, partition, offset: firstOffset + i, meta: plain ? {} : metaOf(req) };
    if (schemaVersions !== undefined && schemaVersions[i]! > 1) events[i]!.schemaVersion = schemaVersions[i]!;
  }
  return { version, events, state };
}
