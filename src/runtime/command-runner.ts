/**
 * One command's way through a drain, and its answer: the actor (hydrated if need be), a stopped
 * partition, idempotency and the expected version checked, `decide`, the append planned
 * (append-planner.ts) and staged through the log's BatchWriter; then, once the drain's batch is
 * durable or failed, the wire replies of the whole batch (reply-codec.ts), in batch order.
 *
 * Why two states per actor: `state`/`version` run ahead while a batch is being committed (the next
 * command of the same pass decides on them); `durable*` is what readers may see, moved forward only
 * when a command is answered. A failed commit drops every actor, which then re-hydrates from the log.
 *
 * Why in-flight command ids: a retry of a command whose batch is not durable yet cannot find it in the
 * log; it joins the first one's answer instead (`sameAs`), if it carries the same command (digest).
 *
 * Gotchas: this is the hottest path of the product (bench/README.md has its cost): keep closures,
 * promises, Maps and object copies out of the per-command code; the reply of a fresh commit hands the
 * writer's own envelope array on (nothing copies it).
 */
import { DomainError, ErrorCodes, RuntimeError, errors, isErrorCode, type EventEnvelope } from '../kernel/index.js';
import { DELETED, LIVE, TOMBSTONED, isLifecycleType, type Lifecycle } from '../domain/index.js';
import type { BatchWriter, LogReader, Staged } from '../log/index.js';
import { partitionOf } from '../partition/index.js';
import { planAppend } from './append-planner.js';
import { decideLifecycle } from './stream-deletion.js';
import { commandDigest } from './command-digest.js';
import { hydrate } from './hydrate.js';
import type { Actor, LiveActors } from './live-actors.js';
import type { Mailbox } from './mailbox.js';
import type { PageWriter } from './page-writer.js';
import { metaOf, type ActorHostConfig, type CommandRequest, type CommandResult } from './protocol.js';
import { errorReply, freshReply, fullReply, type WireReply } from './reply-codec.js';
import type { StoppedPartitions } from './stopped-partitions.js';
import { Span, spanEnd, spanStart } from './trace.js';

/** A command of a drain, decided (or refused), waiting for its batch's outcome. */
export interface PendingReply {
  rid: number;
  actor: Actor | null;
  result?: CommandResult;
  error?: RuntimeError;
  /** A retry of a command in a batch not yet durable: answered with the first one's result. */
  sameAs?: PendingReply;
  /** Set when this command registered its commandId as in flight. */
  commandKey?: string;
  /** The command's digest (commands with a commandId only): a retry must carry the same command. */
  digest?: string;
  /** The stream's lifecycle right after this command (fresh commands only). */
  life?: Lifecycle;
}

/** What a command needs of the host it runs in. */
export interface CommandRunnerParts {
  readonly config: ActorHostConfig;
  readonly log: LogReader;
  readonly writer: BatchWriter;
  readonly mailbox: Mailbox;
  readonly actors: LiveActors;
  readonly pages: PageWriter;
  readonly stopped: StoppedPartitions;
  /** The live actor of an aggregate, hydrated first if need be (throws for one this worker cannot host). */
  readonly actor: (aggregateType: string, id: string) => Actor;
  /** Packs and posts one `replies` message. */
  readonly sendReplies: (replies: WireReply[]) => void;
  /** Cluster mode: why a partition's commands are refused now (not served, lease lapsed: served-partitions.ts). */
  readonly refuse?: ((partition: number) => RuntimeError | undefined) | undefined;
}

export class CommandRunner {
  readonly #config: ActorHostConfig;
  readonly #log: LogReader;
  readonly #writer: BatchWriter;
  readonly #mailbox: Mailbox;
  readonly #actors: LiveActors;
  readonly #pages: PageWriter;
  readonly #stopped: StoppedPartitions;
  readonly #actor: (aggregateType: string, id: string) => Actor;
  readonly #sendReplies: (replies: WireReply[]) => void;
  readonly #refuse: ((partition: number) => RuntimeError | undefined) | undefined;
  /** Commands with a commandId in batches not yet durable: a retry joins the first one's answer. */
  readonly #inflightCommands = new Map<string, PendingReply>();
  #processed = 0;

  constructor(parts: CommandRunnerParts) {
    this.#config = parts.config;
    this.#log = parts.log;
    this.#writer = parts.writer;
    this.#mailbox = parts.mailbox;
    this.#actors = parts.actors;
    this.#pages = parts.pages;
    this.#stopped = parts.stopped;
    this.#actor = parts.actor;
    this.#sendReplies = parts.sendReplies;
    this.#refuse = parts.refuse;
  }

  get commandsProcessed(): number {
    return this.#processed;
  }

  /** Decides one command of drain `drainNo` and stages what it writes into `staged`. Never throws. */
  run(req: CommandRequest, drainNo: number, staged: Staged[]): PendingReply {
    const out: PendingReply = { rid: req.rid, actor: null };
    this.#processed++;
    let actor: Actor;
    try {
      if (this.#stopped.size > 0) {
        const stopped = this.#stopped.get(partitionOf(req.id, this.#config.totalPartitions));
        if (stopped) throw stopped;
      }
      // Cluster mode: checked per command, live actor or not, so nothing is staged on a lapsed lease.
      if (this.#refuse) {
        const refused = this.#refuse(partitionOf(req.id, this.#config.totalPartitions));
        if (refused) {
          // A live actor carries its own mailbox count (`dropped` below only counts the not hydrated).
          const live = this.#actors.get(req.aggregateType, req.id);
          if (live) this.#mailbox.delivered(live);
          throw refused;
        }
      }
      actor = this.#actor(req.aggregateType, req.id);
    } catch (err) {
      this.#mailbox.dropped(req.aggregateType, req.id);
      const partition = partitionOf(req.id, this.#config.totalPartitions);
      // Damage arrives as CorruptRecord/CorruptLog: the log maps LMDB's own codes on every read.
      out.error = RuntimeError.is(err) ? err : new RuntimeError(ErrorCodes.Internal, String(err));
      if (RuntimeError.is(err, ErrorCodes.CorruptRecord) || RuntimeError.is(err, ErrorCodes.CorruptLog)) out.error = this.#stopped.stop(partition, err);
      return out;
    }
    out.actor = actor;
    this.#mailbox.delivered(actor);
    try {
      if (req.commandId !== undefined) {
        out.digest = commandDigest(req.command);
        const same = this.#inflightCommands.get(actor.key + '\u0000' + req.commandId);
        if (same) {
          if (same.digest !== out.digest) throw keyReused(actor, req.commandId);
          out.sameAs = same;
          return out;
        }
        const seen = this.#log.findCommand(actor.aggregateType, actor.id, req.commandId);
        if (seen) {
          // Records written before digests were stored carry none: those retries are trusted as before.
          if (seen.digest !== undefined && seen.digest !== out.digest) throw keyReused(actor, req.commandId);
          out.result = this.#replayResult(actor, seen.first, seen.last);
          return out;
        }
      }
      if (req.expectedVersion !== undefined && req.expectedVersion !== actor.version) {
        throw errors.versionConflict(req.expectedVersion, actor.version);
      }
      out.result = this.#decideAndStage(actor, req, out.digest, drainNo, staged);
      out.life = actor.life;
      if (req.commandId !== undefined) {
        out.commandKey = actor.key + '\u0000' + req.commandId;
        this.#inflightCommands.set(out.commandKey, out);
      }
    } catch (err) {
      // Only our own errors and domain rejections pass through; anything else a decider throws (a bug,
      // or a Node error whose `code` means nothing to callers, like ENOENT) is DeciderFailed.
      out.error =
        (RuntimeError.is(err) && isErrorCode(err.code)) || DomainError.isDomain(err)
          ? (err as RuntimeError)
          : new RuntimeError(ErrorCodes.DeciderFailed, `the ${actor.aggregateType} decider threw: ${(err as Error)?.message ?? String(err)}`);
      // A position found taken, or damage met on the way (invariant 10): nothing more is written there.
      if (out.error.code === ErrorCodes.CorruptRecord || out.error.code === ErrorCodes.CorruptLog) out.error = this.#stopped.stop(actor.partition, out.error);
    }
    return out;
  }

  #decideAndStage(actor: Actor, req: CommandRequest, digest: string | undefined, drainNo: number, staged: Staged[]): CommandResult {
    const now = Math.max(req.now, actor.lastTs);
    // The runtime's own commands (delete, undelete, tombstone): never a decider's (stream-deletion.ts).
    if (isLifecycleType(req.command.type)) return this.#stageLifecycle(actor, req, digest, drainNo, staged, now);
    if (actor.life === TOMBSTONED) throw errors.streamDeleted(actor.aggregateType, actor.id);
    // A soft-deleted stream is re-created by a domain command: from the initial state, its seqs going on.
    const planned = actor.life === DELETED ? { decider: actor.decider, state: actor.decider.initialState(), version: actor.version } : actor;
    const decided = actor.decider.decide(req.command, planned.state, { now, id: actor.id, version: actor.version });
    if (!Array.isArray(decided)) throw new RuntimeError(ErrorCodes.DeciderFailed, `the ${actor.aggregateType} decider returned no event array`);
    if (decided.length === 0) {
      // Nothing re-created it: it stays deleted, and its state is nobody's to see.
      if (actor.life === DELETED) throw new RuntimeError(ErrorCodes.StreamNotFound, `${actor.aggregateType} stream ${JSON.stringify(actor.id)} is deleted, and the command decided no event that would re-create it`, { type: actor.aggregateType, id: actor.id, deleted: true });
      return { version: actor.version, events: NO_EVENTS, state: actor.state };
    }
    // Fold first, stage after: an `evolve` that throws must not take positions (append-planner.ts).
    const plan = planAppend(planned, decided, now, this.#config);
    // Snapshots first: staging takes no position, and a state that cannot be encoded then fails the
    // command before its events are staged (staged events commit with the batch whatever the command's
    // answer, so an error after them would be a wrong answer).
    const derived: Staged[] = [];
    if (plan.snapshots) {
      const t = spanStart();
      for (const s of plan.snapshots) derived.push(this.#writer.stageSnapshot(actor.aggregateType, actor.id, s));
      spanEnd(Span.snapshot, t, plan.snapshots.length);
    }
    if (plan.removals) for (const v of plan.removals) derived.push(this.#writer.stageSnapshotRemoval(actor.aggregateType, actor.id, v));
    const append = this.#stageAppend(actor, req, decided, digest, now);
    staged.push(append);
    for (const d of derived) staged.push(d);
    // The writer's own array, handed over: nothing else keeps it.
    const events = append.events as EventEnvelope[];
    this.#pages.note(events, drainNo);
    actor.state = plan.state;
    actor.version = plan.version;
    actor.lastTs = now;
    actor.life = LIVE;
    return { version: plan.version, events, state: plan.state };
  }

  /** A delete, undelete or tombstone: one `$` event appended to the stream (or none when already so). */
  #stageLifecycle(actor: Actor, req: CommandRequest, digest: string | undefined, drainNo: number, staged: Staged[], now: number): CommandResult {
    const decided = decideLifecycle(actor, req.command);
    if (decided === null) return { version: actor.version, events: NO_EVENTS, state: actor.state };
    const append = this.#stageAppend(actor, req, [decided.event], digest, now);
    staged.push(append);
    const events = append.events as EventEnvelope[];
    this.#pages.note(events, drainNo);
    // The state stays (a soft deletion keeps it for an undelete); no snapshot is taken of a deleted stream.
    actor.version++;
    actor.lastTs = now;
    actor.life = decided.life;
    return { version: actor.version, events, state: actor.state };
  }

  /** Stages one command's events after the actor's version. */
  #stageAppend(actor: Actor, req: CommandRequest, events: readonly { type: string; data: unknown }[], digest: string | undefined, now: number): Staged {
    const meta = req.commandId === undefined && req.correlationId === undefined && req.causationId === undefined ? NO_META : metaOf(req);
    // The writer assigns positions; encoding may throw (data msgpack cannot hold): the command fails before anything is staged.
    return this.#writer.stageAppend({
      aggregateType: actor.aggregateType, stream: actor.id, partition: actor.partition, expectedVersion: actor.version,
      events, ts: now, meta, ...(req.commandId !== undefined ? { commandId: req.commandId } : {}), ...(digest !== undefined ? { digest } : {}),
    });
  }

  /** The answer to a command seen before: its events, and the state right after them. */
  #replayResult(actor: Actor, first: number, last: number): CommandResult {
    const events = this.#log.readStream(actor.aggregateType, actor.id, first, last - first + 1);
    return { version: last, events, state: this.#stateAt(actor, last), duplicate: true };
  }

  #stateAt(actor: Actor, version: number): unknown {
    if (version === actor.durableVersion) return actor.durableState;
    return hydrate(this.#log, actor.decider, actor.aggregateType, actor.id, version).state;
  }

  /** Answers a drain's commands once its batch is durable (`failure` null) or failed, in batch order. */
  answer(pending: readonly PendingReply[], failure: RuntimeError | null): void {
    const replies: WireReply[] = [];
    for (const p of pending) {
      if (p.commandKey !== undefined && this.#inflightCommands.get(p.commandKey) === p) this.#inflightCommands.delete(p.commandKey);
      const src = p.sameAs ?? p;
      const result = src.result;
      const err = src.error ?? (failure && result && !result.duplicate ? failure : null);
      if (err) replies.push(errorReply(p.rid, err));
      else if (result) {
        const first = result.events[0];
        if (p.sameAs || result.duplicate || !first) {
          replies.push(fullReply(p.rid, p.sameAs ? { ...result, duplicate: true } : result));
          continue;
        }
        replies.push(freshReply(p.rid, result, first));
        // What readers may see now: the state right after this command (a later batch may run ahead).
        if (p.actor && result.version > p.actor.durableVersion) {
          p.actor.durableState = result.state;
          p.actor.durableVersion = result.version;
          p.actor.durableLife = p.life ?? LIVE;
        }
      }
    }
    // A failed batch: later batches fail too (chained), so forget every actor; they re-hydrate from the log.
    if (failure) this.#actors.clear();
    if (replies.length) this.#sendReplies(replies);
  }

  /** The heads (next offsets) a committed drain's fresh appends moved, per partition. */
  heads(pending: readonly PendingReply[]): Map<number, number> {
    const heads = new Map<number, number>();
    for (const p of pending) {
      const events = p.sameAs || p.result?.duplicate ? undefined : p.result?.events;
      const last = events?.[events.length - 1];
      if (last && (heads.get(last.partition) ?? -1) < last.offset + 1) heads.set(last.partition, last.offset + 1);
    }
    return heads;
  }
}

/** The events of a command that decided none: shared, never mutated. */
const NO_EVENTS = Object.freeze([]) as unknown as EventEnvelope[];

/** The metadata of events whose command carried no ids: shared, never mutated (worker-internal). */
const NO_META = Object.freeze({});

function keyReused(actor: Actor, commandId: string): RuntimeError {
  return new RuntimeError(
    ErrorCodes.IdempotencyKeyReused,
    `commandId ${JSON.stringify(commandId)} was already used on ${actor.aggregateType} ${actor.id} with a different command; send a new commandId for a new command`,
    { commandId },
  );
}
