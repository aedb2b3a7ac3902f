/**
 * Personal data as the deciders and views of this build declare it (`Decider.personalData`,
 * `Projection.personalData`): which fields to seal on the way into the log and the view store, and to
 * open (or redact, once their subject is forgotten) on the way out. The cipher and what it guarantees:
 * subject-cipher.ts. Applied by versioned-log.ts, so every read and every append of every thread goes
 * through it, as upcasting does.
 *
 * Gotchas:
 * - Sealing comes after stamping the schema version and opening before upcasting: upcasters and
 *   `evolve` only ever see plaintext (or `null`), and the declared fields are those of the current version.
 * - A value that is not sealed (written before the field was declared personal) reads as it is while
 *   its subject is known, and as `null` once it is forgotten: the plaintext stays in the log file.
 * - Once a field is declared personal, every later decider of that type must keep declaring it: a
 *   decider that stops would be handed the sealed bytes (a `Uint8Array`) as the field's value.
 * - Declarations are checked when deciders load (`PersonalFields.of`: InvalidOptions): an unknown
 *   `subject` form or an empty field list is a typo that would leave data in plaintext.
 */
import { ErrorCodes, RuntimeError } from '../kernel/index.js';
import type { AnyDecider } from '../domain/index.js';
import type { StoredSnapshot, SubjectKeys } from '../log/index.js';
import { isSealed, open, seal } from './subject-cipher.js';

/** What a forgotten subject's personal field reads as: `null` keeps JSON types sane (absent would change shapes). */
export const REDACTED = null;

type EventData = Record<string, unknown>;
const NONE: ReadonlySet<string> = new Set();
type StorableEvent = { type: string; data: unknown; schemaVersion?: number };

/** Aggregate type -> event type -> personal fields. */
type Declared = ReadonlyMap<string, ReadonlyMap<string, readonly string[]>>;

export class PersonalFields {
  readonly #declared: Declared;
  /** Aggregate type -> its event types with personal fields (for the fold's hot loop). */
  readonly #types: ReadonlyMap<string, ReadonlySet<string>>;

  private constructor(declared: Declared) {
    this.#declared = declared;
    this.#types = new Map([...declared].map(([t, byType]) => [t, new Set(byType.keys())]));
  }

  /** Checks every decider's `personalData` (InvalidOptions naming what is wrong) and collects them. */
  static of(deciders: Iterable<AnyDecider>): PersonalFields {
    const declared = new Map<string, Map<string, readonly string[]>>();
    for (const d of deciders) {
      const given: unknown = (d as { personalData?: unknown }).personalData;
      if (given !== undefined) declared.set(d.type, declarationOf(d.type, given));
    }
    return new PersonalFields(declared);
  }

  /** True when no decider declares personal data. */
  get none(): boolean {
    return this.#declared.size === 0;
  }

  /** True when `aggregateType`'s decider declares personal data (its snapshots are sealed too). */
  declares(aggregateType: string): boolean {
    return this.#declared.has(aggregateType);
  }

  /** The event types of `aggregateType` that carry personal fields (empty when none). */
  typesOf(aggregateType: string): ReadonlySet<string> {
    return this.#types.get(aggregateType) ?? NONE;
  }

  /** True when events of `type` may carry personal fields. */
  carries(aggregateType: string, type: string): boolean {
    return this.#declared.get(aggregateType)?.has(type) ?? false;
  }

  /**
   * Events as they go to the log: personal fields sealed with the stream's subject key (made on first
   * use). The same array when none carries any. A forgotten subject's new personal data is refused
   * (`InvalidCommand`): its key is gone for good, and storing the data in plaintext would defeat the forget.
   */
  seal(keys: SubjectKeys, aggregateType: string, stream: string, events: readonly StorableEvent[]): readonly StorableEvent[] {
    const byType = this.#declared.get(aggregateType);
    if (byType === undefined || !events.some((e) => byType.has(e.type))) return events;
    return events.map((e) => {
      const fields = byType.get(e.type);
      if (fields === undefined || !isRecord(e.data)) return e;
      let data: EventData | undefined;
      for (const f of fields) {
        const v = e.data[f];
        if (v === undefined || v === null) continue;
        const key = keys.key(stream, true)!;
        if (key === 'forgotten') {
          throw new RuntimeError(ErrorCodes.InvalidCommand, `data subject ${JSON.stringify(stream)} was forgotten: its personal data (${aggregateType} ${e.type}.${f}) can no longer be stored`, { subject: stream, field: f });
        }
        data ??= { ...e.data };
        data[f] = seal(key, fieldAad(aggregateType, stream, e.type, f), v);
      }
      return data === undefined ? e : { ...e, data };
    });
  }

  /** An event's data as read: personal fields opened, or `null` once the subject is forgotten. The same object when nothing changes. */
  open(keys: SubjectKeys, aggregateType: string, stream: string, type: string, data: unknown): unknown {
    const fields = this.#declared.get(aggregateType)?.get(type);
    if (fields === undefined || !isRecord(data)) return data;
    let out: EventData | undefined;
    let key: ReturnType<SubjectKeys['key']> | null = null;
    for (const f of fields) {
      const v = data[f];
      if (v === undefined || v === null) continue;
      key ??= keys.key(stream);
      let plain: unknown;
      if (key === 'forgotten') plain = REDACTED;
      else if (!isSealed(v)) continue; // plaintext from before the declaration: as stored
      else {
        key ??= freshKey(keys, stream);
        if (key === undefined) throw missingKey(stream, `${aggregateType}/${stream} ${type}.${f}`);
        plain = key === 'forgotten' ? REDACTED : open(key, fieldAad(aggregateType, stream, type, f), v, { db: 'events', key: [aggregateType, stream], what: `${type}.${f}` });
      }
      out ??= { ...data };
      out[f] = plain;
    }
    return out ?? data;
  }

  /** A snapshot as stored: its state sealed with the stream's subject key; undefined when the subject is forgotten (not kept). */
  sealSnapshot(keys: SubjectKeys, aggregateType: string, stream: string, snapshot: StoredSnapshot): StoredSnapshot | undefined {
    const key = keys.key(stream, true)!;
    if (key === 'forgotten') return undefined;
    return { ...snapshot, state: seal(key, snapshotAad(aggregateType, stream, snapshot.version), snapshot.state) };
  }

  /** A snapshot as read: its state opened; undefined (ignored: the fold starts over) when the subject is forgotten. */
  openSnapshot<S>(keys: SubjectKeys, aggregateType: string, stream: string, snapshot: StoredSnapshot<S>): StoredSnapshot<S> | undefined {
    const key = keys.key(stream) ?? (isSealed(snapshot.state) ? freshKey(keys, stream) : undefined);
    if (key === 'forgotten') return undefined;
    if (!isSealed(snapshot.state)) return snapshot; // taken before the declaration
    if (key === undefined) throw missingKey(stream, `the ${aggregateType}/${stream} snapshot at version ${snapshot.version}`);
    return { ...snapshot, state: open(key, snapshotAad(aggregateType, stream, snapshot.version), snapshot.state, { db: 'snapshots', key: [aggregateType, stream, snapshot.version], what: 'state' }) as S };
  }
}

// ------------------------------------------------------------------ view rows

/** View -> its personal fields (the row's id is the subject), as this thread's projections declared them. */
const personalRows = new Map<string, readonly string[]>();

/** Declares `view`'s personal row fields for this thread (loadProjections does, for every projection it loads). */
export function declarePersonalRows(view: string, fields: readonly string[]): void {
  if (!Array.isArray(fields) || fields.length === 0 || fields.some((f) => typeof f !== 'string' || f === '')) {
    throw new RuntimeError(ErrorCodes.InvalidOptions, `view ${view}: personalData.fields must list the row's personal fields`, { view });
  }
  personalRows.set(view, [...fields]);
}

/** The personal fields of `view`'s rows (undefined: none). */
export function personalRowFields(view: string): readonly string[] | undefined {
  return personalRows.get(view);
}

/**
 * What a row's personal field was last sealed from, kept by the row's single writer (the worker
 * projector's row cache) so that a field whose value did not change keeps its ciphertext: a deposit
 * rewrites the account's row, and sealing the owner's unchanged name again cost a key-store read and a
 * cipher per command (bench/README.md, "Sealed view rows"). Only for strings, numbers and booleans: an
 * object may have been changed in place since it was sealed.
 */
export interface RowSeal {
  readonly field: string;
  readonly plain: string | number | boolean;
  readonly sealed: Uint8Array;
}

/**
 * A row as stored: personal fields sealed with the key of its subject (the row's id), made if the
 * subject has none yet (its events were written before the field was declared personal; normally the
 * append that fed the row made it); a forgotten subject's field is stored as `null`. `seals` (the
 * caller's, indexed like the view's fields) gives ciphertexts to reuse and is updated with new ones:
 * only the caller that holds the row's plaintext may keep it, and it drops it when the subject is
 * forgotten (a reused ciphertext is the one already stored, which the redaction then replaces).
 */
export function sealRow(keys: SubjectKeys, view: string, id: string, row: unknown, seals?: (RowSeal | undefined)[]): unknown {
  const fields = personalRows.get(view);
  if (fields === undefined || !isRecord(row)) return row;
  let out: EventData | undefined;
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i]!;
    const v = row[f];
    if (v === undefined || v === null || isSealed(v)) continue;
    out ??= { ...row };
    const kept = seals?.[i];
    if (kept !== undefined && kept.field === f && Object.is(kept.plain, v)) {
      out[f] = kept.sealed;
      continue;
    }
    let key = keys.key(id);
    if (key === undefined) {
      // Rows are also written outside the log's batches (catch-up, rebuild): the key is made durable now.
      key = keys.key(id, true)!;
      keys.persist();
    }
    if (key === 'forgotten') {
      out[f] = REDACTED;
      if (seals) seals[i] = undefined;
      continue;
    }
    const sealed = seal(key, rowAad(view, id, f), v);
    out[f] = sealed;
    if (seals) seals[i] = typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? { field: f, plain: v, sealed } : undefined;
  }
  return out ?? row;
}

/** A row as read: personal fields opened, `null` when their subject is forgotten (or its key is missing: derived data, never an error). */
export function openRow<R>(keys: SubjectKeys, view: string, id: string, row: R): R {
  const fields = personalRows.get(view);
  if (fields === undefined || !isRecord(row)) return row;
  let out: EventData | undefined;
  for (const f of fields) {
    const v = row[f];
    if (v === undefined || v === null) continue;
    let key = keys.key(id);
    let plain: unknown = REDACTED;
    if (key !== 'forgotten') {
      if (!isSealed(v)) continue; // stored before the view declared it: as stored
      key ??= freshKey(keys, id);
      if (key !== undefined && key !== 'forgotten') plain = open(key, rowAad(view, id, f), v, { db: 'view_rows', key: [view, id], what: f });
    }
    out ??= { ...row };
    out[f] = plain;
  }
  return (out ?? row) as R;
}

// ------------------------------------------------------------------ helpers

// Where a sealed value lives: a copy moved anywhere else fails to open (subject-cipher.ts).
const fieldAad = (aggregateType: string, stream: string, type: string, field: string): string => `eventide/1\u0000event\u0000${aggregateType}\u0000${stream}\u0000${type}\u0000${field}`;
const snapshotAad = (aggregateType: string, stream: string, version: number): string => `eventide/1\u0000snapshot\u0000${aggregateType}\u0000${stream}\u0000${version}`;
const rowAad = (view: string, id: string, field: string): string => `eventide/1\u0000row\u0000${view}\u0000${id}\u0000${field}`;

function isRecord(v: unknown): v is EventData {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

/**
 * A key asked for again after renewing this thread's read snapshot of the key store: a reader whose log
 * snapshot is newer than its key-store snapshot (each store renews its own) may meet a value sealed with
 * a key made after its key-store snapshot. Only a miss pays for it.
 */
function freshKey(keys: SubjectKeys, subject: string): ReturnType<SubjectKeys['key']> {
  keys.refreshReads();
  return keys.key(subject);
}

function missingKey(subject: string, where: string): RuntimeError {
  return new RuntimeError(
    ErrorCodes.CorruptLog,
    `the key store has no key for data subject ${JSON.stringify(subject)}, whose sealed data ${where} holds: keys.mdb was lost or restored from an older backup than the log`,
    { subject },
  );
}

/** Checks one decider's `personalData` (a plain JS module may hold anything). */
function declarationOf(aggregateType: string, given: unknown): Map<string, readonly string[]> {
  const invalid = (why: string) => new RuntimeError(ErrorCodes.InvalidOptions, `the ${aggregateType} decider's personalData: ${why}`, { aggregateType });
  if (typeof given !== 'object' || given === null || Array.isArray(given)) throw invalid(`must be { subject: '$id', events: { [eventType]: [field, ...] } }`);
  const { subject, events, ...rest } = given as { subject?: unknown; events?: unknown };
  if (Object.keys(rest).length > 0) throw invalid(`unknown key(s) ${Object.keys(rest).join(', ')}`);
  if (subject !== '$id') throw invalid(`subject must be '$id' (the stream's id is the data subject), got ${JSON.stringify(subject)}`);
  if (typeof events !== 'object' || events === null || Array.isArray(events) || Object.keys(events).length === 0) throw invalid('events must name at least one event type and its personal fields');
  const out = new Map<string, readonly string[]>();
  for (const [type, fields] of Object.entries(events)) {
    if (!Array.isArray(fields) || fields.length === 0 || fields.some((f) => typeof f !== 'string' || f === '')) throw invalid(`events.${type} must list its personal fields (top-level keys of the event's data)`);
    if (new Set(fields).size !== fields.length) throw invalid(`events.${type} lists a field twice`);
    out.set(type, [...(fields as string[])]);
  }
  return out;
}
