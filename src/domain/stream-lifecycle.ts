/**
 * Stream deletion (docs/data-lifecycle.md): the runtime's own commands and events on any stream. A
 * deletion is an event appended to the stream itself, through its owning actor like any command, so it
 * is ordered with the stream's commands, durable when answered, in the feed, and in every replay.
 *
 * - `$StreamDeleted` (soft): reads answer "not found"; the state before it is kept, so
 *   `$StreamUndeleted` brings the stream back as it was. A domain command on a deleted stream
 *   re-creates it: its seqs go on, its state starts again from `initialState()`.
 * - `$StreamTombstoned` (hard): nothing may follow; every command and read is refused (`StreamDeleted`).
 *
 * Gotchas:
 * - Event and command types starting with `$` belong to the runtime: a decider's `decide` never gets
 *   these commands and its `evolve` never gets these events (hydration handles them), and a view gets
 *   them only when it asks for them (`Projection.streamLifecycle`).
 * - A stream's lifecycle after version v depends on the event at v alone (`lifecycleAfter`): a domain
 *   event makes it live, an undelete makes it live, the other two say themselves. So a snapshot (only
 *   ever taken after a domain event) is always of a live stream.
 * - Names are stored in logs: never rename one.
 */

export const STREAM_DELETED = '$StreamDeleted';
export const STREAM_UNDELETED = '$StreamUndeleted';
export const STREAM_TOMBSTONED = '$StreamTombstoned';

/** The runtime's commands (never a decider's: `$` is not a valid command name of a schema'd decider). */
export const DELETE_STREAM = '$DeleteStream';
export const UNDELETE_STREAM = '$UndeleteStream';
export const TOMBSTONE_STREAM = '$TombstoneStream';

/** Where a stream is in its lifecycle (a number: it sits on every actor and every hydration). */
export const LIVE = 0;
export const DELETED = 1;
export const TOMBSTONED = 2;
export type Lifecycle = typeof LIVE | typeof DELETED | typeof TOMBSTONED;

/** True for the runtime's own event and command types (`$...`). One char code: it runs per folded event. */
export function isLifecycleType(type: string): boolean {
  return type.charCodeAt(0) === 36;
}

/** The lifecycle right after an event of this type (see the Gotchas). */
export function lifecycleAfter(type: string): Lifecycle {
  return type === STREAM_DELETED ? DELETED : type === STREAM_TOMBSTONED ? TOMBSTONED : LIVE;
}

/** What a lifecycle event carries: who asked (a token's name, `cli`, or null). */
export interface LifecycleData {
  by: string | null;
}
