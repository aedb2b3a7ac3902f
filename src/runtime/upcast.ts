/**
 * Versioned events: the one place where stored event data is decoded into what the deciders and views
 * of this build expect. Built once per thread from the loaded deciders (`EventDecoder.of`), it knows
 * each aggregate type's event versions (`Decider.events`) and upcasters, and is applied by
 * versioned-log.ts to every read of the log (hydration folds, the time machine, history, diff, pages
 * of a stream or a partition: the feed, views, rebuild, reconcile) and to every append (stamping the
 * current version). Nothing above the log sees an old shape, and nothing below it interprets versions.
 *
 * Why decode at read time (upcasting) rather than migrate the log: the log is append-only and its
 * records are checksummed (DESIGN invariants 3 and 8); a v1 record stays v1 forever and its checksum
 * stays valid. Reading through pure, in-code upcasters keeps history exactly as it was written and
 * makes every reader agree, in every thread, with no migration step to run or to interrupt.
 *
 * Why here (runtime) and not in a log adapter: every adapter (LMDB, memory, a replicated one) then
 * gets it for free, the adapters only carry the version number (log/port.ts, "Schema versions").
 *
 * Why the cost is nil where nothing is versioned: a decider that declares no `events` has its events
 * passed through exactly as stored (no wrapper in the fold, no copy of an envelope), and when no decider
 * declares any the log is not even wrapped (versioned-log.ts). For a decider that does declare them,
 * an event already at its current version costs a map lookup; only older events are copied.
 *
 * Gotchas:
 * - An event stored with a version newer than this build's decider knows (a rollback after newer events
 *   were written) is refused with `DeciderFailed`, never folded as if it were older data: deploy a
 *   decider that knows that version. A decider that declares no `events` at all reads every stored
 *   version as-is (exactly what a build from before versions did).
 * - Upcasters run on every read of an old event, in every thread: keep them cheap and pure. An upcaster
 *   that throws fails the read with `DeciderFailed` naming the type and version.
 * - Changing an upcaster changes what old events mean to every reader at once; persisted snapshots and
 *   view rows folded from the old meaning stay until `snapshotVersion` is bumped or the view rebuilt.
 */
import { ErrorCodes, RuntimeError, type EventEnvelope } from '../kernel/index.js';
import type { AnyDecider } from '../domain/index.js';
import type { Evolve } from '../log/index.js';

/** One event type's current version and its upcasters; `steps[v - 1]` turns version v into v + 1. */
interface EventCodec {
  readonly version: number;
  readonly steps: readonly ((data: unknown) => unknown)[];
}

/** Event type -> codec, for one aggregate type. A type absent here is at version 1. */
type AggregateCodecs = ReadonlyMap<string, EventCodec>;

type StorableEvent = { type: string; data: unknown; schemaVersion?: number };

export class EventDecoder {
  /** Aggregate type -> its decider's event codecs; only deciders that declare `events` are here. */
  readonly #codecs: ReadonlyMap<string, AggregateCodecs>;
  /** Aggregate types with an event type past version 1 (their appends are stamped). */
  readonly #stamped: ReadonlySet<string>;

  private constructor(codecs: Map<string, AggregateCodecs>) {
    this.#codecs = codecs;
    this.#stamped = new Set([...codecs].filter(([, byType]) => [...byType.values()].some((c) => c.version > 1)).map(([t]) => t));
  }

  /** Checks every decider's `events` declaration (InvalidOptions naming what is wrong) and builds the decoder. */
  static of(deciders: Iterable<AnyDecider>): EventDecoder {
    const codecs = new Map<string, AggregateCodecs>();
    for (const d of deciders) {
      const declared: unknown = (d as { events?: unknown }).events;
      if (declared === undefined) continue;
      codecs.set(d.type, codecsOf(d.type, declared));
    }
    return new EventDecoder(codecs);
  }

  /** True when no decider declares `events`: every read and append passes through untouched. */
  get identity(): boolean {
    return this.#codecs.size === 0;
  }

  /** True when the decider of `aggregateType` declares `events` (its reads are decoded). */
  decodes(aggregateType: string): boolean {
    return this.#codecs.has(aggregateType);
  }

  /** The version events of `type` are stored with when decided now (1 unless declared). */
  versionOf(aggregateType: string, type: string): number {
    return this.#codecs.get(aggregateType)?.get(type)?.version ?? 1;
  }

  /**
   * `data` of an event stored at `schemaVersion` (undefined: 1), at the decider's current version:
   * the same value when it is already there, else the upcasters' chain applied to it.
   */
  upcastEvent(aggregateType: string, type: string, schemaVersion: number | undefined, data: unknown): unknown {
    const byType = this.#codecs.get(aggregateType);
    if (byType === undefined) return data;
    return upcast(aggregateType, type, byType.get(type), schemaVersion ?? 1, data);
  }

  /** An envelope read from the log, at the decider's current version (the same object when it already is). */
  envelope(e: EventEnvelope): EventEnvelope {
    const byType = this.#codecs.get(e.aggregateType);
    if (byType === undefined) return e;
    const codec = byType.get(e.type);
    const current = codec === undefined ? 1 : codec.version;
    const stored = e.schemaVersion ?? 1;
    if (stored === current) return e;
    const data = upcast(e.aggregateType, e.type, codec, stored, e.data, e.seq, e.stream);
    return { aggregateType: e.aggregateType, stream: e.stream, type: e.type, seq: e.seq, data, ts: e.ts, partition: e.partition, offset: e.offset, meta: e.meta, schemaVersion: current };
  }

  /** `evolve` for a fold of `aggregateType`'s stream: decodes each event first (`evolve` itself when nothing to decode). */
  evolve<S>(aggregateType: string, evolve: Evolve<S>): Evolve<S> {
    const byType = this.#codecs.get(aggregateType);
    if (byType === undefined) return evolve;
    return (state, event, schemaVersion) => {
      const codec = byType.get(event.type);
      const current = codec === undefined ? 1 : codec.version;
      const stored = schemaVersion ?? 1;
      if (stored === current) return evolve(state, event, schemaVersion);
      return evolve(state, { type: event.type, data: upcast(aggregateType, event.type, codec, stored, event.data) }, current);
    };
  }

  /** True when appends of `aggregateType` need stamping (one of its event types is past version 1). */
  stamps(aggregateType: string): boolean {
    return this.#stamped.has(aggregateType);
  }

  /** Events as decided, each with the version it is stored at when that is past 1 (the same array when none is). */
  stamp(aggregateType: string, events: readonly StorableEvent[]): readonly StorableEvent[] {
    const byType = this.#codecs.get(aggregateType);
    if (byType === undefined || !events.some((e) => (byType.get(e.type)?.version ?? 1) > 1)) return events;
    return events.map((e) => {
      const version = byType.get(e.type)?.version ?? 1;
      return version > 1 ? { type: e.type, data: e.data, schemaVersion: version } : e;
    });
  }
}

/** The upcasters' chain from `stored` to the codec's version; refuses a version this build does not know. */
function upcast(aggregateType: string, type: string, codec: EventCodec | undefined, stored: number, data: unknown, seq?: number, stream?: string): unknown {
  const current = codec === undefined ? 1 : codec.version;
  const where = stream === undefined ? '' : ` (${aggregateType}/${stream}#${seq})`;
  if (!Number.isSafeInteger(stored) || stored < 1 || stored > current) {
    throw new RuntimeError(
      ErrorCodes.DeciderFailed,
      `a ${aggregateType} ${type} event${where} is stored at schema version ${String(stored)}, but this build's ${aggregateType} decider knows versions up to ${current}: run a build whose decider declares it`,
      { aggregateType, type, schemaVersion: stored, known: current },
    );
  }
  let out = data;
  for (let v = stored; v < current; v++) {
    try {
      out = codec!.steps[v - 1]!(out);
    } catch (err) {
      throw new RuntimeError(ErrorCodes.DeciderFailed, `the ${aggregateType} upcaster of ${type} from version ${v}${where} threw: ${(err as Error)?.message ?? String(err)}`, { aggregateType, type, schemaVersion: v });
    }
  }
  return out;
}

/** Checks one decider's `events` declaration (a plain JS module may hold anything) and builds its codecs. */
function codecsOf(aggregateType: string, declared: unknown): AggregateCodecs {
  const invalid = (why: string) => new RuntimeError(ErrorCodes.InvalidOptions, `the ${aggregateType} decider's events: ${why}`, { aggregateType });
  if (typeof declared !== 'object' || declared === null || Array.isArray(declared)) throw invalid('must be an object { [eventType]: { version, upcast } }');
  const out = new Map<string, EventCodec>();
  for (const [type, spec] of Object.entries(declared)) {
    if (typeof spec !== 'object' || spec === null) throw invalid(`${type} must be { version, upcast }`);
    const { version, upcast: upcasters } = spec as { version?: unknown; upcast?: unknown };
    if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 1) throw invalid(`${type}.version must be an integer >= 1, got ${JSON.stringify(version)}`);
    const given: Record<string, unknown> = upcasters === undefined ? {} : (upcasters as Record<string, unknown>);
    if (typeof given !== 'object' || given === null) throw invalid(`${type}.upcast must be an object { [fromVersion]: (data) => data }`);
    for (const from of Object.keys(given)) {
      const v = Number(from);
      if (!Number.isSafeInteger(v) || v < 1 || v >= version) throw invalid(`${type}.upcast has an upcaster from version ${from}; versions 1..${version - 1} only (the current one is ${version})`);
    }
    const steps: ((data: unknown) => unknown)[] = [];
    for (let v = 1; v < version; v++) {
      const step = given[v];
      if (typeof step !== 'function') throw invalid(`${type} is at version ${version} but has no upcaster from version ${v} (upcast[${v}]: data of v${v} -> data of v${v + 1}); old events of every version stay in the log`);
      steps.push(step as (data: unknown) => unknown);
    }
    out.set(type, { version, steps });
  }
  return out;
}
