/**
 * The append planner: what one command's decided events do to its stream besides being appended, worked
 * out with no I/O. From the actor's state and version, the events its decider returned, the command's
 * time and the snapshot policy, it folds the events with the decider's own `evolve` and names the
 * snapshots to write and the persisted snapshots to remove. The actor host stages the plan through the
 * log's BatchWriter (command-runner.ts); bench/support/seed.ts stages the very same plans, so a seeded
 * data dir holds what the runtime would have written.
 *
 * The issue sketched it as `(actor, request, now, offsets, policy) -> events, snapshots, removals`.
 * Positions are not planned here: the log's BatchWriter assigns seqs and offsets when the append is
 * staged (log/port.ts, "Who assigns positions"). So there is no `offsets` in and no positioned events
 * out; the events to append are the decided ones as they are, and the plan says the state and version
 * after them. The request contributes nothing but `now` (already clamped so ts never goes backwards).
 *
 * Why fold before anything is staged: an `evolve` that throws must fail its command before the writer
 * hands out a single position (nothing burnt, nothing half-staged).
 *
 * Gotchas:
 * - Snapshots sit at exact multiples of `snapshotEvery`, even inside a multi-event command, so their
 *   versions are known without a read; retention below depends on it, and so does the time machine's
 *   bound (test/projections/time-machine-bound.int.test.ts).
 * - Retention: the newest KEPT_SNAPSHOTS stay; older ones only when their interval index is a multiple
 *   of `snapshotThinning`. Writing snapshot number `index` decides the fate of number `index - 10` by
 *   arithmetic alone: O(1), no read, and right even when one batch writes many snapshots of a stream.
 *   Changing the rule changes which snapshots existing data dirs keep from then on.
 * - The hot path: one plan object per command; the arrays only when a command writes snapshots.
 */
import type { AnyDecider } from '../domain/index.js';
import type { StoredSnapshot } from '../log/index.js';

/** How often a stream is snapshotted, and which snapshots are kept (ActorHostConfig carries both). */
export interface SnapshotPolicy {
  /** A snapshot at every multiple of this version (0: none). */
  readonly snapshotEvery: number;
  /** Beyond the newest KEPT_SNAPSHOTS, keep only every n-th snapshot (1: keep all). */
  readonly snapshotThinning: number;
}

/** What the planner reads of an actor (an `Actor` of live-actors.ts is one). */
export interface PlannedActor {
  readonly decider: Pick<AnyDecider, 'evolve' | 'snapshotVersion'>;
  /** The state and version the command decided on. */
  readonly state: unknown;
  readonly version: number;
}

export interface AppendPlan {
  /** The state after the events. */
  readonly state: unknown;
  /** The stream's version after the events. */
  readonly version: number;
  /** Snapshots to write, oldest first (null: none). */
  readonly snapshots: StoredSnapshot[] | null;
  /** Versions of persisted snapshots to remove, in the order they fall due (null: none). */
  readonly removals: number[] | null;
}

/** The newest snapshots of a stream that retention always keeps. */
export const KEPT_SNAPSHOTS = 10;

/** Plans the append of `events` (see the header). Throws whatever the decider's `evolve` throws. */
export function planAppend(actor: PlannedActor, events: readonly { type: string; data: unknown }[], now: number, policy: SnapshotPolicy): AppendPlan {
  const decider = actor.decider;
  const every = policy.snapshotEvery;
  let state = actor.state;
  let version = actor.version;
  let snapshots: StoredSnapshot[] | null = null;
  let removals: number[] | null = null;
  for (const e of events) {
    state = decider.evolve(state, e);
    version++;
    if (every > 0 && version % every === 0) {
      (snapshots ??= []).push({ version, snapshotVersion: decider.snapshotVersion, state, ts: now });
      const leaving = thinnedOut(version / every, policy.snapshotThinning);
      if (leaving > 0) (removals ??= []).push(leaving * every);
    }
  }
  return { state, version, snapshots, removals };
}

/** The interval index of the snapshot that writing snapshot number `index` removes, or 0 for none. */
function thinnedOut(index: number, thinning: number): number {
  const leaving = index - KEPT_SNAPSHOTS;
  return thinning <= 1 || leaving < 1 || leaving % thinning === 0 ? 0 : leaving;
}
