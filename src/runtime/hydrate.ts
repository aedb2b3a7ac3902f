/**
 * Hydration: the state of a stream from the log, shared by the actor host (cold actors) and the main
 * thread (the time machine, and current-state loads on the calling thread: log-loads.ts). DESIGN invariant 4: snapshot + tail must equal the full fold; the property tests in
 * test/runtime and test/projections check it. Events reach `evolve` at the decider's current schema
 * versions because the runtime's logs are versioned (versioned-log.ts): nothing to decode here.
 *
 * Stream deletion (domain/stream-lifecycle.ts): the runtime's `$` events never reach the decider's
 * `evolve`; the fold handles them and says where the stream is (`life`). A soft deletion keeps the
 * state (an undelete brings it back); the first domain event after it starts again from `initialState()`.
 */
import { DELETED, LIVE, isLifecycleType, lifecycleAfter, type AnyDecider, type Lifecycle } from '../domain/index.js';
import { corruptRecord, type LogReader } from '../log/index.js';

export interface Hydrated {
  state: unknown;
  version: number;
  ts: number;
  /** Events folded on top of the snapshot (or from seq 1). */
  folded: number;
  /** Of `folded`, events read from pages (EVENT_PAGE events per record) rather than one by one. */
  paged: number;
  fromSnapshot: number;
  staleSnapshot: boolean;
  /** Where the stream is at `version`: live, soft-deleted or tombstoned (a snapshot is always of a live stream). */
  life: Lifecycle;
}

/**
 * State of a stream at `target` (default: its head): the newest snapshot at or below the target whose
 * snapshot version matches the decider's, plus the events after it (whole pages where the log has them). DESIGN invariant 4 says this must
 * equal the full fold; the property tests check it.
 */
export function hydrate(log: LogReader, decider: AnyDecider, aggregateType: string, id: string, target = Number.MAX_SAFE_INTEGER): Hydrated {
  if (target !== Number.MAX_SAFE_INTEGER) return foldTo(log, decider, aggregateType, id, target);
  return hydrateToHead(log, decider, aggregateType, id, log.streamHead(aggregateType, id).version);
}

/**
 * The state at `head`, the stream's last seq as the caller read it just before (`streamHead`). Reading
 * the head first bounds the fold: a reader on another thread than the stream's writer (runtime loads on
 * the calling thread) sees the stream as it was at that read, even while the writer appends to it.
 * With `maxFold`: undefined, having read only the snapshot, when more events than that are left to fold.
 */
export function hydrateToHead(log: LogReader, decider: AnyDecider, aggregateType: string, id: string, head: number): Hydrated;
export function hydrateToHead(log: LogReader, decider: AnyDecider, aggregateType: string, id: string, head: number, maxFold: number): Hydrated | undefined;
export function hydrateToHead(log: LogReader, decider: AnyDecider, aggregateType: string, id: string, head: number, maxFold = Number.MAX_SAFE_INTEGER): Hydrated | undefined {
  const h = foldTo(log, decider, aggregateType, id, head, maxFold);
  if (h === undefined) return undefined;
  // The fold must end at the stream's last key: a shorter fold means a key the range scan could not
  // reach (damaged), and a writer hydrated short would append on top of existing events.
  if (h.version !== head) throw corruptRecord('events', [aggregateType, id, head], `stream ${aggregateType}/${id} folds to seq ${h.version} but its last key is seq ${head}`);
  return h;
}

function foldTo(log: LogReader, decider: AnyDecider, aggregateType: string, id: string, target: number): Hydrated;
function foldTo(log: LogReader, decider: AnyDecider, aggregateType: string, id: string, target: number, maxFold: number): Hydrated | undefined;
function foldTo(log: LogReader, decider: AnyDecider, aggregateType: string, id: string, target: number, maxFold = Number.MAX_SAFE_INTEGER): Hydrated | undefined {
  let state = decider.initialState();
  // A stream with no events (a new aggregate): nothing to read.
  if (target <= 0) return { state, version: 0, ts: 0, folded: 0, paged: 0, fromSnapshot: 0, staleSnapshot: false, life: LIVE };
  let version = 0;
  let ts = 0;
  let staleSnapshot = false;
  const snap = log.snapshotAtOrBelow(aggregateType, id, target);
  if (snap) {
    if (snap.snapshotVersion === decider.snapshotVersion) {
      state = snap.state;
      version = snap.version;
      ts = snap.ts;
    } else staleSnapshot = true;
  }
  const fromSnapshot = version;
  if (target - version > maxFold) return undefined;
  let folded = 0;
  let paged = 0;
  let life: Lifecycle = LIVE;
  // A snapshot at the target leaves nothing to fold: no range to open.
  if (version < target) {
    const fold = streamFold(decider);
    const tail = log.foldStream(aggregateType, id, version + 1, target, state, fold.evolve);
    life = fold.life;
    if (tail.folded > 0) {
      state = tail.state;
      version = tail.version;
      ts = tail.ts;
    }
    folded = tail.folded;
    paged = tail.paged;
  }
  return { state, version, ts, folded, paged, fromSnapshot, staleSnapshot, life };
}

/**
 * A decider's `evolve` for a fold of its stream, with the runtime's `$` events handled here (never
 * passed on) and the stream's lifecycle kept as it goes (`life`): a fold from the start or from a
 * snapshot (always of a live stream). Hydration uses it, and so does every tool that folds a stream.
 *
 * Hot: it runs once per folded event. The lifecycle sits in a plain field (not a captured `let` behind
 * a getter) and callers take `evolve` out once: measured so, it folds at about the speed of the
 * decider's own evolve (docs/data-lifecycle.md, "Cost").
 */
export function streamFold(decider: AnyDecider): { evolve: (state: unknown, event: { type: string; data: unknown }) => unknown; life: Lifecycle } {
  const fold = {
    life: LIVE as Lifecycle,
    evolve: (s: unknown, e: { type: string; data: unknown }): unknown => {
      if (isLifecycleType(e.type)) {
        fold.life = lifecycleAfter(e.type);
        return s;
      }
      if (fold.life === DELETED) {
        // Re-created after a soft deletion: the stream's state starts again (its seqs go on).
        fold.life = LIVE;
        return decider.evolve(decider.initialState(), e as never);
      }
      return decider.evolve(s, e as never);
    },
  };
  return fold;
}
