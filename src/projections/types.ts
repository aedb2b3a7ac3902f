/**
 * A projection (read model): rows keyed by stream id, each row a deterministic fold of its stream's
 * events. Deterministic and keyed by stream is what makes a view rebuildable, reconcilable, and safe to
 * run in the worker that owns the stream's partition (one writer per row).
 */
import { ErrorCodes, RuntimeError, type EventEnvelope } from '../kernel/index.js';
import { isLifecycleType } from '../domain/index.js';
import { declarePersonalRows } from '../runtime/index.js';

export interface Projection<R = unknown> {
  /** The view's name in routes (`/views/:name`). */
  readonly name: string;
  /** Aggregate types whose events feed this view; other events are skipped. */
  readonly aggregateTypes: readonly string[];
  /**
   * Row fields that copy personal data (crypto-shredding, runtime/subject-cipher.ts), whose subject is
   * the row's id (as for a decider's `subject: '$id'`). The view store keeps them sealed with the
   * subject's key; once it is forgotten they read as `null`, and the engine rewrites the row so.
   */
  readonly personalData?: { readonly fields: readonly string[] };
  /** Fold one event into its stream's row; `undefined` removes the row. Must be pure. */
  apply(row: R | undefined, event: EventEnvelope): R | undefined;
  /**
   * True: `apply` also gets the runtime's stream-deletion events (`$StreamDeleted`, `$StreamUndeleted`,
   * `$StreamTombstoned`: domain/stream-lifecycle.ts) to react to them. Otherwise they never reach it.
   */
  readonly streamLifecycle?: boolean;
  /**
   * True: this view's rows depend only on the events retention keeps (a window over recent events), so
   * the scavenge may remove the older events of its types (docs/data-lifecycle.md, "Scavenge"), and a
   * rebuild folds what is left. Otherwise (a sum of every deposit, say) the scavenge leaves its types'
   * events on disk: retention still hides them from reads.
   */
  readonly followsRetention?: boolean;
}

/** `projection.apply`, except for the runtime's `$` events when the projection did not ask for them. */
export function applyEvent<R>(projection: Projection<R>, row: R | undefined, event: EventEnvelope): R | undefined {
  if (isLifecycleType(event.type) && projection.streamLifecycle !== true) return row;
  return projection.apply(row, event);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyProjection = Projection<any>;

export async function loadProjections(moduleUrls: readonly string[]): Promise<AnyProjection[]> {
  const out: AnyProjection[] = [];
  for (const url of moduleUrls) {
    const mod = (await import(url)) as { default?: AnyProjection };
    const p = mod.default;
    if (!p || typeof p.apply !== 'function' || typeof p.name !== 'string') throw new RuntimeError(ErrorCodes.InvalidOptions, `${url} does not export a projection (default export with name, aggregateTypes, apply)`);
    // Every thread that loads a view seals and opens its rows the same way (runtime/personal-data.ts).
    if (p.personalData !== undefined) declarePersonalRows(p.name, p.personalData.fields);
    out.push(p);
  }
  return out;
}
