/**
 * Retention (docs/data-lifecycle.md): which events of a stream reads may still show. The settings are
 * stored beside the log (`LogReader.retention`, per stream and per aggregate type); this module checks
 * them, merges them, and turns them into a stream's *cut*: the first version reads may show. The time
 * machine, history and diff refuse anything before the cut with `Gone` (410), naming the first
 * readable version. Hydration of the current state ignores the cut: every event still folds, so a
 * retention change never changes a state, a balance or a decision.
 *
 * Why at read time rather than in the owning worker: a setting decides nothing about commands, only
 * what reads show; computed from (settings, head, clock) on every read, it takes effect for the next
 * read after `setRetention` resolves on every thread, and races with commands cannot matter (a head
 * only grows, so a cut checked against a head read earlier stays valid).
 *
 * A cut is never before the stream's start: what a scavenge removed (runtime/scavenge.ts) is gone for
 * reads even after its settings are relaxed.
 *
 * Gotchas:
 * - A stream's record replaces its type's as a whole (no field-by-field merge): `{}` on a stream means
 *   "no limit here" even when its type has one; removing the stream's record (`null`) brings the type's back.
 * - `maxAge` compares event ts with this runtime's clock (the `clock` option), as `at` loads do.
 */
import { ErrorCodes, RuntimeError, assertValidId, errors, type Clock } from '../kernel/index.js';
import type { LogReader, RetentionSettings } from '../log/index.js';

/** What retention is set on: every stream of a type, or one stream. */
export interface RetentionTarget {
  aggregateType: string;
  id?: string;
}

/** A stream's retention as reads apply it now. */
export interface StreamRetention {
  /** The settings that apply (the stream's own, else its type's; `{}`: none). */
  effective: RetentionSettings;
  /** Where `effective` comes from. */
  source: 'stream' | 'type' | 'none';
  /** The stream's version. */
  head: number;
  /** The first version reads may show (`head + 1` when none may; 1 when nothing is cut). */
  firstVersion: number;
}

const FIELDS = ['maxAge', 'maxCount', 'truncateBefore'] as const;

/**
 * `settings` checked and copied (only the known fields); `InvalidQuery` names what is wrong. `head`: the
 * stream's version, for a stream target (a cut beyond it is refused).
 */
export function checkRetention(target: RetentionTarget, settings: unknown, head?: number): RetentionSettings {
  if (typeof settings !== 'object' || settings === null || Array.isArray(settings)) throw invalid('retention settings must be an object (or null to remove them)');
  const out: RetentionSettings = {};
  for (const key of Object.keys(settings)) {
    if (!(FIELDS as readonly string[]).includes(key)) throw invalid(`unknown retention setting ${JSON.stringify(key.slice(0, 64))}; known: ${FIELDS.join(', ')}`);
    const v = (settings as Record<string, unknown>)[key];
    if (v === undefined) continue;
    // maxCount 0 would hide every event forever: say so rather than define it (truncateBefore does that).
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) throw invalid(`${key} must be a positive integer${key === 'maxCount' ? ' (to hide every event so far, set truncateBefore to the stream\'s version + 1)' : ''}, got ${JSON.stringify(v)}`);
    out[key as (typeof FIELDS)[number]] = v;
  }
  if (out.truncateBefore !== undefined) {
    if (target.id === undefined) throw invalid('truncateBefore is a version of one stream: set it on a stream, not on a whole type');
    if (head !== undefined && out.truncateBefore > head + 1) {
      throw new RuntimeError(ErrorCodes.InvalidQuery, `truncateBefore ${out.truncateBefore} is beyond the stream's next version (${head + 1}): a cut can only hide events that exist`, { head, truncateBefore: out.truncateBefore });
    }
  }
  return out;
}

/** The target's id checked (InvalidId), when it has one. */
export function checkTarget(target: RetentionTarget): void {
  if (target.id !== undefined) assertValidId(target.id);
}

export class RetentionRules {
  readonly #log: LogReader;
  readonly #clock: Clock;

  constructor(log: LogReader, clock: Clock) {
    this.#log = log;
    this.#clock = clock;
  }

  /** The stream's retention as reads apply it now (`head`: its version, when the caller read it already). */
  of(aggregateType: string, id: string, head = this.#log.streamHead(aggregateType, id).version): StreamRetention {
    const own = this.#log.retention(aggregateType, id);
    const typeWide = own === undefined ? this.#log.retention(aggregateType) : undefined;
    const effective = own ?? typeWide ?? {};
    const source = own !== undefined ? 'stream' : typeWide !== undefined ? 'type' : 'none';
    return { effective, source, head, firstVersion: this.#cut(aggregateType, id, effective, head) };
  }

  /** The first version reads of the stream may show (1 when nothing is cut). */
  firstVersion(aggregateType: string, id: string, head: number): number {
    // The common case (no settings at all) costs three lookups and no clock read.
    const s = this.#log.retention(aggregateType, id) ?? this.#log.retention(aggregateType);
    return s === undefined ? Math.min(this.#log.streamStart(aggregateType, id), head + 1) : this.#cut(aggregateType, id, s, head);
  }

  /** `Gone` unless `version` is at or after the stream's cut. */
  assertReadable(aggregateType: string, id: string, version: number, head: number): void {
    const first = this.firstVersion(aggregateType, id, head);
    if (version < first) throw errors.gone(aggregateType, id, first, head);
  }

  #cut(aggregateType: string, id: string, s: RetentionSettings, head: number): number {
    // What a scavenge removed stays gone whatever the settings say now (they may have been relaxed since).
    let cut = this.#log.streamStart(aggregateType, id);
    if (s.truncateBefore !== undefined) cut = Math.max(cut, s.truncateBefore);
    if (s.maxCount !== undefined) cut = Math.max(cut, head - s.maxCount + 1);
    // Gone: every event whose ts is more than maxAge ms before now (ts never decreases within a stream).
    if (s.maxAge !== undefined && cut <= head) cut = Math.max(cut, this.#log.versionAt(aggregateType, id, this.#clock.now() - s.maxAge - 1) + 1);
    return Math.min(cut, head + 1);
  }
}

function invalid(message: string): RuntimeError {
  return new RuntimeError(ErrorCodes.InvalidQuery, message);
}
