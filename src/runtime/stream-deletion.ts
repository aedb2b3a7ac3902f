/**
 * The runtime's lifecycle commands on a stream (domain/stream-lifecycle.ts), decided with no I/O from
 * where the stream is: which `$` event one appends, or none when the stream is already so (a retry of
 * a deletion is answered, not refused). They run in the owning actor like any command (command-runner.ts),
 * so a deletion is ordered with the stream's commands: a command queued before it is decided before it,
 * one queued after it sees the stream deleted.
 *
 * | command            | live            | soft-deleted        | tombstoned      | no events yet  |
 * |--------------------|-----------------|---------------------|-----------------|----------------|
 * | `$DeleteStream`    | `$StreamDeleted`| nothing             | `StreamDeleted` | StreamNotFound |
 * | `$UndeleteStream`  | StreamNotDeleted (409) | `$StreamUndeleted` | `StreamDeleted` | StreamNotFound |
 * | `$TombstoneStream` | `$StreamTombstoned` | `$StreamTombstoned` | nothing      | StreamNotFound |
 *
 * An undelete after a re-creation is refused (the stream is live again; its old state is history).
 */
import { DomainError, ErrorCodes, RuntimeError, errors } from '../kernel/index.js';
import {
  DELETE_STREAM, DELETED, LIVE, STREAM_DELETED, STREAM_TOMBSTONED, STREAM_UNDELETED, TOMBSTONE_STREAM, TOMBSTONED, UNDELETE_STREAM,
  type Lifecycle, type LifecycleData,
} from '../domain/index.js';

/** What a lifecycle command reads of its actor. */
export interface LifecycleActor {
  readonly aggregateType: string;
  readonly id: string;
  readonly version: number;
  readonly life: Lifecycle;
}

/** The event to append and the lifecycle after it; null when the stream is already so. */
export function decideLifecycle(actor: LifecycleActor, command: { type: string; data: unknown }): { event: { type: string; data: LifecycleData }; life: Lifecycle } | null {
  const { aggregateType, id, life } = actor;
  const data: LifecycleData = { by: byOf(command.data) };
  if (command.type !== DELETE_STREAM && command.type !== UNDELETE_STREAM && command.type !== TOMBSTONE_STREAM) {
    throw new RuntimeError(ErrorCodes.UnknownCommandType, `no runtime command ${JSON.stringify(command.type.slice(0, 64))}`, { known: [] });
  }
  if (life === TOMBSTONED) {
    if (command.type === TOMBSTONE_STREAM) return null;
    throw errors.streamDeleted(aggregateType, id);
  }
  if (actor.version === 0) throw errors.streamNotFound(aggregateType, id);
  switch (command.type) {
    case DELETE_STREAM:
      return life === DELETED ? null : { event: { type: STREAM_DELETED, data }, life: DELETED };
    case TOMBSTONE_STREAM:
      return { event: { type: STREAM_TOMBSTONED, data }, life: TOMBSTONED };
    default:
      if (life === LIVE) {
        throw new DomainError('StreamNotDeleted', `${aggregateType} stream ${JSON.stringify(id)} is not deleted (never was, or a command re-created it since): nothing to undelete`, 'conflict', { type: aggregateType, id, version: actor.version });
      }
      return { event: { type: STREAM_UNDELETED, data }, life: LIVE };
  }
}

function byOf(data: unknown): string | null {
  const by = typeof data === 'object' && data !== null ? (data as { by?: unknown }).by : undefined;
  return typeof by === 'string' ? by.slice(0, 128) : null;
}
