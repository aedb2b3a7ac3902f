/**
 * Writes account streams straight into an `LmdbLog`, exactly as the actor host writes them: one
 * `stageAppend([envelope])` per command (one `Deposited` each, after an `AccountOpened`), committed
 * `chunk` commands at a time as one drain would be (so the partition index holds runs, as under load),
 * partition offsets assigned in order per partition, and a snapshot each time a stream crosses a
 * multiple of `snapshotEvery` (the host's rule), with the state the decider's own `evolve` folds to,
 * and a page of events each time a stream completes one (the host writes it a drain later; same bytes).
 *
 * Why not through `runtime.execute`: seeding 1M events through the runtime takes ~40 s on this machine;
 * this path takes ~10 s and produces the same bytes (seeding uses `commit` durability: the data is
 * thrown away after the run, so waiting for fsync buys nothing).
 */
import { accountDecider, type AccountState } from '../../src/domain/account.js';
import type { EventEnvelope } from '../../src/kernel/index.js';
import { EVENT_PAGE, LmdbLog, type StagedWrite } from '../../src/log/index.js';
import { partitionOf } from '../../src/partition/index.js';

export interface SeedStream {
  id: string;
  /** Events in the stream: 1 `AccountOpened` then `events - 1` `Deposited` of 1. */
  events: number;
}

export interface SeedOptions {
  partitions: number;
  snapshotEvery: number;
  /** Events per LMDB transaction. */
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

export async function seedInto(log: LmdbLog, streams: Iterable<SeedStream>, options: SeedOptions): Promise<number> {
  const P = log.partitions;
  const offsets = new Map<number, number>();
  const chunk = options.chunk ?? 10_000;
  const startTs = options.startTs ?? SEED_TS;
  let written = 0;
  let staged: StagedWrite[] = [];
  for (const s of streams) {
    const partition = partitionOf(s.id, P);
    let offset = offsets.get(partition) ?? log.partitionHead(partition);
    let state: AccountState = accountDecider.initialState();
    let page: EventEnvelope[] = [];
    for (let seq = 1; seq <= s.events; seq++) {
      const e: EventEnvelope =
        seq === 1
          ? { aggregateType: 'account', stream: s.id, type: 'AccountOpened', seq, data: { owner: `owner of ${s.id}` }, ts: startTs + seq, partition, offset: offset++, meta: {} }
          : { aggregateType: 'account', stream: s.id, type: 'Deposited', seq, data: { amount: 1 }, ts: startTs + seq, partition, offset: offset++, meta: {} };
      state = accountDecider.evolve(state, e as never);
      staged.push(log.stageAppend([e]));
      page.push(e);
      if (seq % EVENT_PAGE === 0) {
        staged.push(log.stagePage(page));
        page = [];
      }
      if (options.snapshotEvery > 0 && seq % options.snapshotEvery === 0) {
        staged.push(log.stageSnapshot('account', s.id, { version: seq, snapshotVersion: accountDecider.snapshotVersion, state, ts: e.ts }));
      }
      written++;
      if (staged.length >= chunk) {
        log.commit(staged);
        staged = [];
        await log.durable();
        options.onProgress?.(written);
      }
    }
    offsets.set(partition, offset);
  }
  if (staged.length) log.commit(staged);
  await log.durable();
  options.onProgress?.(written);
  return written;
}

/** `n` accounts `prefix0 .. prefix(n-1)`, each with `events` events. */
export function* accounts(prefix: string, n: number, events: number): Generator<SeedStream> {
  for (let i = 0; i < n; i++) yield { id: `${prefix}${i}`, events };
}
