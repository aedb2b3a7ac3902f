/**
 * The scavenge (docs/data-lifecycle.md, "Scavenge"): physically removes what retention hides, in the
 * background, without ever removing what something still needs. Per stream with retention, it removes
 * the events below `s + 1`, where `s` is the newest persisted snapshot that
 * - lies before the stream's cut (retention hides everything it removes) and before its head (the last
 *   event stays: its seq is the stream's version),
 * - is of the decider's current `snapshotVersion` (hydration starts there; it never needs an event
 *   below it), and one the snapshot thinning never removes (so it stays where hydration and the time
 *   machine start from: append-planner.ts keeps every snapshot with thinning 1, else every n-th),
 * - and whose event every guard has consumed (read models: `ScavengeGuard`; nothing past the offsets
 *   they reached in the stream's partition).
 * Then it drops each partition's index from its front, as far as every event it points at is gone and
 * every guard has read past it. Types a guard keeps whole (a view that folds every event of the type)
 * are left alone and named in the report.
 *
 * Why on the main thread and outside the workers' write chains: a removal only touches records no
 * writer ever writes again (log/port.ts, "Scavenge"), so it needs no ordering with commands; it runs in
 * steps of 512 to 4 096 removals, each one short LMDB transaction, yielding to the event loop between
 * steps, so commands never wait behind more than one step. A kill -9 leaves whole steps done and the
 * marks where they are; the next pass goes on from there.
 *
 * Gotchas:
 * - A worker plugin with no guard registered (a read model the runtime cannot ask) stops every pass:
 *   removing what it has not read would make it skip events. `Views.open` registers the projection
 *   engine's guard.
 * - A retried command whose events were scavenged is no longer recognised (its command record goes with
 *   them): idempotency reaches back as far as retention keeps events.
 * - Disk full: a pass removes only what it can record, so it starts (and takes each step) only while
 *   the log accepts writes (`writable`: not stopped, free space above the reserve); otherwise it fails
 *   with `StorageFailed` having removed nothing more. A scavenge frees no space on the disk anyway (LMDB
 *   reuses freed pages but never shrinks its file). If the audit record of a type's removals cannot be
 *   written (the disk filled during the pass), it is kept and written first by the next pass, which
 *   removes nothing before it is (a kill -9 in between loses it, as it would between a removal step and
 *   the record).
 */
import { isSystemType, type AnyDecider, type AuditKind, type AuditTarget } from '../domain/index.js';
import { ErrorCodes, RuntimeError } from '../kernel/index.js';
import type { EventLog } from '../log/index.js';
import { partitionOf } from '../partition/index.js';
import type { RetentionRules } from './retention.js';

/** Something that reads the log by partition and must not lose what it has not read yet (read models). */
export interface ScavengeGuard {
  /** Who it is, in reports ("views"). */
  readonly name: string;
  /** The worker plugin module it speaks for (a plugin without a guard stops every pass). */
  readonly module?: string;
  /** The offset of `partition` below which it has read everything it will ever read. */
  consumed(partition: number): number;
  /** Why the events of `aggregateType` must all stay (it folds every one of them), or null. */
  keeps(aggregateType: string): string | null;
}

/** What one pass did. */
export interface ScavengeReport {
  /** Streams whose prefix it removed (in part or whole). */
  streams: number;
  events: number;
  pages: number;
  snapshots: number;
  commands: number;
  /** Partition offsets whose index it dropped. */
  indexOffsets: number;
  /** What it left alone, and why. */
  skipped: { aggregateType?: string; id?: string; reason: string }[];
}

export interface ScavengeOptions {
  /** Only this type (and with `id`, only this stream). */
  aggregateType?: string;
  id?: string;
  /** Removals per step (default: `stepBudget`, 512 to 4 096 by what a stream has left to remove). */
  budget?: number;
  /** Who asked, for the audit records (`cli`, a token's name; null: the background schedule). */
  by?: string | null;
}

export interface ScavengeParts {
  readonly log: EventLog;
  readonly rules: RetentionRules;
  readonly deciders: ReadonlyMap<string, AnyDecider>;
  readonly snapshotEvery: number;
  readonly snapshotThinning: number;
  /** Modules of the worker plugins the runtime runs. */
  readonly pluginModules: readonly string[];
  /** The acknowledged head of each partition (nothing past it is ever removed). */
  readonly acknowledged: (partition: number) => number;
  readonly audit: (kind: AuditKind, record: AuditRecord) => Promise<unknown>;
  /** False once the runtime closes: a pass stops at its next step. */
  readonly open: () => boolean;
  /** Throws `StorageFailed` when the log does not accept writes now (stopped, or below the free-space reserve). */
  readonly writable?: () => void;
}

type AuditRecord = { target: AuditTarget; by?: string | null; details?: Record<string, unknown> };

/**
 * Removals per stream step when the caller names none: a quarter of what the stream has left to remove,
 * within [512, 4096]. Each step is one durable transaction, so a fixed small step makes the scavenge need
 * more flushes per event than the commands that append them (1 000-event commands: two steps of 512
 * each): where flushes are what is scarce (a busy disk), it fell behind and the file grew with the
 * backlog (bench/README.md, "Data lifecycle"). A stream far behind its cut now catches up in about four
 * steps; one just behind keeps steps short, so commands wait behind little.
 */
export function stepBudget(remaining: number): number {
  return Math.min(4096, Math.max(512, Math.ceil(remaining / 4)));
}

/** An audit append failed: `what` happened, because of `err`, and `then` follows. Retriable: space comes back. */
function auditError(err: unknown, what: string, then: string): RuntimeError {
  const why = RuntimeError.is(err) ? err.message.split('. ')[0] : err instanceof Error ? err.message : String(err);
  const code = RuntimeError.is(err) ? err.code : ErrorCodes.StorageFailed;
  return new RuntimeError(code, `${what} (${why}); ${then}`, RuntimeError.is(err) ? withoutOutcome(err.details) : {}, true);
}

/** What a pass removed of one type: the audit record's details. */
function typeDetails(streams: number, report: ScavengeReport, before: ScavengeReport): { streams: number; events: number; pages: number; snapshots: number; commands: number } {
  return { streams, events: report.events - before.events, pages: report.pages - before.pages, snapshots: report.snapshots - before.snapshots, commands: report.commands - before.commands };
}

/** A command's `outcome` says nothing of a pass whose removals are done. */
function withoutOutcome(details: Record<string, unknown>): Record<string, unknown> {
  const { outcome: _outcome, ...rest } = details;
  return rest;
}

const yieldTurn = (): Promise<void> => new Promise((r) => setImmediate(r));
/** Streams looked at per event-loop turn (each a few LMDB reads: tens of microseconds). */
const STREAMS_PER_TURN = 256;

export class Scavenger {
  readonly #parts: ScavengeParts;
  readonly #guards = new Set<ScavengeGuard>();
  #running: Promise<ScavengeReport> | null = null;
  /** Audit records of removals done whose append failed: written before the next pass removes anything. */
  readonly #unrecorded: AuditRecord[] = [];

  constructor(parts: ScavengeParts) {
    this.#parts = parts;
  }

  /** Registers a guard; returns its removal. */
  guard(guard: ScavengeGuard): () => void {
    this.#guards.add(guard);
    return () => void this.#guards.delete(guard);
  }

  /** One pass; a pass asked for while one runs starts after it (each sees the other's removals). */
  run(options: ScavengeOptions = {}): Promise<ScavengeReport> {
    const previous = this.#running ?? Promise.resolve(null);
    const next = previous.catch(() => null).then(() => this.#pass(options));
    this.#running = next;
    void next.finally(() => {
      if (this.#running === next) this.#running = null;
    }).catch(() => undefined);
    return next;
  }

  /** True while a pass runs or waits (the background schedule skips its tick then: see create-runtime.ts). */
  get busy(): boolean {
    return this.#running !== null;
  }

  /** Resolves once no pass runs (close). */
  async idle(): Promise<void> {
    while (this.#running) await this.#running.catch(() => undefined);
  }

  async #pass(options: ScavengeOptions): Promise<ScavengeReport> {
    const { log, deciders } = this.#parts;
    const report: ScavengeReport = { streams: 0, events: 0, pages: 0, snapshots: 0, commands: 0, indexOffsets: 0, skipped: [] };
    const guarded = new Set([...this.#guards].map((g) => g.module).filter((m): m is string => m !== undefined));
    const unguarded = this.#parts.pluginModules.filter((m) => !guarded.has(m));
    if (unguarded.length > 0) {
      report.skipped.push({ reason: `worker plugins ${unguarded.join(', ')} read the log and registered no scavenge guard: nothing is removed while they run (Views.open registers the projection engine's)` });
      return report;
    }
    if (this.#parts.snapshotEvery === 0) {
      report.skipped.push({ reason: 'snapshots are off (snapshotEvery 0): a stream with no snapshot has nowhere to hydrate from once its prefix is gone' });
      return report;
    }
    this.#writable();
    while (this.#unrecorded.length > 0) {
      const record = this.#unrecorded[0]!;
      try {
        await this.#parts.audit('ScavengeCompleted', record);
      } catch (err) {
        throw auditError(err, `the scavenge pass could not record what an earlier pass removed (${String(record.details?.['events'])} events of type ${String(record.target.aggregateType)})`, 'nothing was removed; the next pass tries again');
      }
      this.#unrecorded.shift();
    }
    log.refreshReads();
    const touched = new Set<number>();
    const types = options.aggregateType !== undefined ? [options.aggregateType] : [...deciders.keys()].filter((t) => !isSystemType(t));
    for (const type of types) {
      const decider = deciders.get(type);
      if (!decider) continue;
      const typeWide = log.retention(type) !== undefined;
      const ids = options.id !== undefined ? [options.id] : typeWide ? log.iterateStreamIds(type) : log.streamsWithRetention(type);
      const kept = this.#keptBy(type);
      const before = { ...report };
      let streams = 0;
      let looked = 0;
      for (const id of ids) {
        if (!this.#parts.open()) return report;
        // Many streams with nothing to remove still cost a few reads each: never hold the loop for all.
        if (++looked % STREAMS_PER_TURN === 0) await yieldTurn();
        if (kept !== null) {
          // Only worth saying when the type has something to remove.
          if (typeWide || log.retention(type, id) !== undefined) report.skipped.push({ aggregateType: type, reason: kept });
          break;
        }
        const s = this.#removable(type, id, decider);
        if (s === null) continue;
        streams++;
        touched.add(partitionOf(id, log.partitions));
        let start = log.streamStart(type, id);
        for (;;) {
          try {
            this.#writable(report);
          } catch (err) {
            // Stopped mid-type: what this type removed so far is recorded by the next pass.
            const details = typeDetails(streams, report, before);
            if (details.events + details.pages + details.snapshots + details.commands > 0) this.#unrecorded.push({ target: { aggregateType: type }, by: options.by ?? null, details });
            throw err;
          }
          const r = await log.removeStreamPrefix(type, id, s + 1, options.budget ?? stepBudget(s + 1 - start));
          start = r.start;
          report.events += r.events;
          report.pages += r.pages;
          report.snapshots += r.snapshots;
          report.commands += r.commands;
          if (r.done || !this.#parts.open()) break;
          await yieldTurn();
        }
        await yieldTurn();
      }
      report.streams += streams;
      if (streams > 0) {
        const details = typeDetails(streams, report, before);
        const record: AuditRecord = { target: { aggregateType: type }, by: options.by ?? null, details };
        try {
          await this.#parts.audit('ScavengeCompleted', record);
        } catch (err) {
          this.#unrecorded.push(record);
          throw auditError(err, `the scavenge removed ${details.events} events of type ${type} but could not record it in the audit stream`, 'the next pass records it before it removes anything');
        }
      }
    }
    log.refreshReads();
    const partitions = options.aggregateType === undefined ? Array.from({ length: log.partitions }, (_, p) => p) : [...touched];
    for (const p of partitions) {
      const upTo = this.#consumed(p);
      for (;;) {
        if (!this.#parts.open()) return report;
        this.#writable(report);
        const t = await log.trimPartition(p, upTo, options.budget);
        report.indexOffsets += t.offsets;
        if (t.done) break;
        await yieldTurn();
      }
    }
    log.refreshReads();
    return report;
  }

  /** Throws when the log refuses writes; says what this pass removed before that, if anything. */
  #writable(report?: ScavengeReport): void {
    try {
      this.#parts.writable?.();
    } catch (err) {
      if (!RuntimeError.is(err)) throw err;
      const done = report && (report.events > 0 || report.indexOffsets > 0) ? `it stopped after removing ${report.events} events and ${report.indexOffsets} index offsets (the next pass records them in the audit stream)` : 'nothing was removed';
      throw new RuntimeError(err.code, `the scavenge pass stopped: the log refuses writes now (${err.message.split('. ')[0]}); ${done}. A scavenge frees no disk space (LMDB reuses freed pages but never shrinks its file); writes resume once space is back`, { ...err.details, outcome: 'not-applied' }, err.retriable);
    }
  }

  /** The snapshot version below which stream `id` may lose its events (see the header), or null. */
  #removable(type: string, id: string, decider: AnyDecider): number | null {
    const { log, rules, snapshotEvery: every, snapshotThinning: thinning } = this.#parts;
    const head = log.streamHead(type, id).version;
    const start = log.streamStart(type, id);
    const limit = Math.min(rules.firstVersion(type, id, head) - 1, head - 1);
    if (limit < start) return null;
    const consumed = this.#consumed(partitionOf(id, log.partitions));
    for (const v of log.snapshotVersions(type, id)) {
      if (v < start) break;
      // The thinning removes only snapshots at multiples of snapshotEvery whose index it does not keep.
      if (v > limit || (thinning > 1 && v % every === 0 && (v / every) % thinning !== 0)) continue;
      const snap = log.snapshotAtOrBelow(type, id, v);
      if (snap?.version !== v || snap.snapshotVersion !== decider.snapshotVersion) continue;
      const event = log.readEvent(type, id, v);
      if (event === undefined || event.offset >= consumed) continue;
      return v;
    }
    return null;
  }

  /** The offset of `partition` below which every guard has read (and which is acknowledged). */
  #consumed(partition: number): number {
    let upTo = this.#parts.acknowledged(partition);
    for (const g of this.#guards) upTo = Math.min(upTo, g.consumed(partition));
    return upTo;
  }

  #keptBy(type: string): string | null {
    for (const g of this.#guards) {
      const why = g.keeps(type);
      if (why !== null) return `${g.name}: ${why}`;
    }
    return null;
  }
}
