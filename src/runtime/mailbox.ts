/**
 * The actor host's mailbox: commands received and not yet decided, in arrival order, and the bound on
 * how many one aggregate may have waiting (`mailboxCapacity`).
 *
 * One queue for the whole worker, not one per actor: a drain takes commands in arrival order, and an
 * actor's commands run one at a time in that order because a drain decides them one after the other on
 * the actor's running state (command-runner.ts). What is per actor is only the count, so a hot
 * aggregate is refused (`Overloaded`) before it crowds the others out.
 *
 * Why two places for the count: an actor that is live carries it (`Actor.queued`, one field bump per
 * command); one that is not hydrated yet has it here, by key, until its first command hydrates it and
 * the new actor adopts the count (`adopt`).
 */
import { errors } from '../kernel/index.js';
import type { CommandRequest } from './protocol.js';
import type { Actor, LiveActors } from './live-actors.js';
import { errorReply, type WireReply } from './reply-codec.js';

export class Mailbox {
  readonly #queue: CommandRequest[] = [];
  /** Mailbox depth of aggregates that are queued but not hydrated yet. */
  readonly #pendingNew = new Map<string, number>();
  readonly #actors: LiveActors;
  readonly #capacity: number;
  #closed = false;

  constructor(actors: LiveActors, capacity: number) {
    this.#actors = actors;
    this.#capacity = capacity;
  }

  get length(): number {
    return this.#queue.length;
  }

  /** Queues what fits; answers the rest (a full mailbox, or a closed host) as wire errors. */
  enqueue(batch: readonly CommandRequest[]): WireReply[] {
    const rejected: WireReply[] = [];
    for (const req of batch) {
      if (this.#closed) {
        rejected.push(errorReply(req.rid, errors.closed()));
        continue;
      }
      const actor = this.#actors.get(req.aggregateType, req.id);
      const key = actor ? actor.key : actorKey(req.aggregateType, req.id);
      const queued = actor ? actor.queued : (this.#pendingNew.get(key) ?? 0);
      if (queued >= this.#capacity) {
        rejected.push(errorReply(req.rid, errors.overloaded(`the mailbox of ${req.aggregateType} ${req.id}`, 100)));
        continue;
      }
      if (actor) actor.queued++;
      else this.#pendingNew.set(key, (this.#pendingNew.get(key) ?? 0) + 1);
      this.#queue.push(req);
    }
    return rejected;
  }

  /** Refuses every later command (the host is closing); what is queued still runs. */
  close(): void {
    this.#closed = true;
  }

  /** The oldest `max` commands, out of the queue. */
  take(max: number): CommandRequest[] {
    return this.#queue.splice(0, Math.min(this.#queue.length, max));
  }

  /** The count of commands queued for an actor before it was hydrated: the new actor carries it on. */
  adopt(key: string): number {
    const queued = this.#pendingNew.get(key) ?? 0;
    this.#pendingNew.delete(key);
    return queued;
  }

  /** One command of a live actor leaves the mailbox to be decided. */
  delivered(actor: Actor): void {
    actor.queued = Math.max(0, actor.queued - 1);
  }

  /** One command for an aggregate that could not be hydrated (so never became an actor) is answered. */
  dropped(aggregateType: string, id: string): void {
    const key = actorKey(aggregateType, id);
    const n = this.#pendingNew.get(key);
    if (n === undefined) return;
    if (n <= 1) this.#pendingNew.delete(key);
    else this.#pendingNew.set(key, n - 1);
  }
}

/** `${type}\0${id}`: the key of an aggregate that has no live actor (a live one carries `Actor.key`). */
export function actorKey(aggregateType: string, id: string): string {
  return aggregateType + '\u0000' + id;
}
