/**
 * Writes account streams straight into an `LmdbLog`, with the actor host's own rules: the append
 * planner (src/runtime/append-planner.ts) folds each command's events with the decider's `evolve` and
 * names the snapshots to write (every multiple of `snapshotEvery`) and to remove (`snapshotThinning`),
 * and a `BatchWriter` (`LmdbLog.openWriter`, as the host opens one) positions each append. One command
 * per event (an `AccountOpened`, then one `Deposited` each), committed `chunk` staged writes at a time as
 * one drain would be (so the partition index holds runs, as under load), and a page of events each time
 * a stream completes one (the host writes it a drain later; same bytes).
 *
 * Why not through `runtime.execute`: seeding 1M events through the runtime takes ~40 s on this machine;
 * this path takes ~10 s and produces the same bytes (seeding uses `commit` durability: the data is
 * thrown away after the run, so waiting for fsync buys nothing). The one record a runtime would not
 * have written: the seed writer's own chain mark in `writers`.
 */
import { accountDecider } from '../../src/domain/account.js';
import type { EventEnvelope } from '../../src/kernel/index.js';
import { EVENT_PAGE, LmdbLog, type Staged } from '../../src/log/index.js';
import { partitionOf } from '../../src/partition/index.js';
import { planAppend } from '../../src/runtime/append-planner.js';

export interface SeedStream {
  id: string;
  /** Events in the stream: 1 `AccountOpened` then `events - 1` `Deposited` of 1. */
  events: number;
}

export interface SeedOptions {
  partitions: number;
  snapshotEvery: number;
  /** As the runtime's option (default 1: keep every snapshot). */
  snapshotThinning?: number;
  /** Staged writes (events, snapshots, pages) per LMDB transaction. */
  chunk?: number;
  /** Called after each chunk with events written so far. */
  onProgress?: (written: number) => void;
  /** Event timestamps start here and grow by 1 ms per event of a stream. */
  startTs?: number;
}

export const SEED_TS = 1_700_000_000_000;

/** Seeds `streams` into the log at `dir` (created if needed) and closes it. Returns events written. */
export async function seedAccounts(dir: string, streams: Iterable<SeedStream>, options: SeedOptions): Promise<number> {
  const log = LmdbLog.open(dir, { partitions: options.partitions, durability: 'commit' });
  try {
    return await seedInto(log, streams, options);
  } finally {
    await log.close();
  }
}

/**
 * Seeds into an open log. The seed is its only writer while it runs, as a runtime would be: it claims
 * the log (`claimOwnership`), which fences the writers of any earlier owner; a runtime started on the
 * data dir afterwards claims it back.
 */
export async function seedInto(log: LmdbLog, streams: Iterable<SeedStream>, options: SeedOptions): Promise<number> {
  const P = log.partitions;
  const writer = log.openWriter('bench-seed', log.claimOwnership('bench seed'), Array.from({ length: P }, (_, p) => p));
  const policy = { snapshotEvery: options.snapshotEvery, snapshotThinning: options.snapshotThinning ?? 1 };
  const chunk = options.chunk ?? 10_000;
  const startTs = options.startTs ?? SEED_TS;
  const meta = {};
  let written = 0;
  let staged: Staged[] = [];
  for (const s of streams) {
    const partition = partitionOf(s.id, P);
    const actor = { decider: accountDecider, state: accountDecider.initialState() as unknown, version: 0 };
    let page: EventEnvelope[] = [];
    for (let seq = 1; seq <= s.events; seq++) {
      const decided = seq === 1 ? [{ type: 'AccountOpened', data: { owner: `owner of ${s.id}` } }] : [{ type: 'Deposited', data: { amount: 1 } }];
      const now = startTs + seq;
      const plan = planAppend(actor, decided, now, policy);
      const append = writer.stageAppend({ aggregateType: 'account', stream: s.id, partition, expectedVersion: actor.version, events: decided, ts: now, meta });
      staged.push(append);
      actor.state = plan.state;
      actor.version = plan.version;
      if (plan.snapshots) for (const snap of plan.snapshots) staged.push(writer.stageSnapshot('account', s.id, snap));
      if (plan.removals) for (const v of plan.removals) staged.push(writer.stageSnapshotRemoval('account', s.id, v));
      page.push(append.events![0]!);
      if (seq % EVENT_PAGE === 0) {
        staged.push(writer.stagePage(page));
        page = [];
      }
      written++;
      if (staged.length >= chunk) {
        await writer.commit(staged);
        staged = [];
        options.onProgress?.(written);
      }
    }
  }
  if (staged.length) await writer.commit(staged);
  options.onProgress?.(written);
  return written;
}

/** `n` accounts `prefix0 .. prefix(n-1)`, each with `events` events. */
export function* accounts(prefix: string, n: number, events: number): Generator<SeedStream> {
  for (let i = 0; i < n; i++) yield { id: `${prefix}${i}`, events };
}
