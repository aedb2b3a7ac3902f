/**
 * What the log contract needs from an adapter's test file, and the few helpers its cases share. Only
 * port methods are used here: an adapter passes the contract through `EventLog` alone.
 */
import { afterEach, it as vitestIt, type TestFunction } from 'vitest';
import type { AppendRequest, BatchWriter, Committed, EventLog, Staged } from '../../../src/log/index.js';

/** One log under test, as the adapter's test file opened it. */
export interface AdapterUnderTest {
  /** The log as it is open now (`reopen` and `damageEvent` replace it). */
  readonly log: EventLog;
  /** Adapters that keep data past `close`: closes the log and opens the same storage again. */
  reopen?(): Promise<EventLog>;
  /**
   * Adapters whose stored records can be damaged from outside: closes the log, changes one byte of the
   * stored value of that event, and opens the log again.
   */
  damageEvent?(aggregateType: string, id: string, seq: number): Promise<EventLog>;
  close(): Promise<void>;
}

/** Opens a new, empty log with `partitions` partitions. */
export type OpenAdapter = (options: { partitions: number }) => Promise<AdapterUnderTest>;

/**
 * Options of an adapter's contract run. `knownDefects`: cases the adapter is known to fail, by name,
 * each with its reason (a bug to fix in the adapter, never a disagreement with the port). They run as
 * `it.fails`, so the run turns red once the adapter is fixed, and the entry must then go.
 */
export interface ContractOptions {
  knownDefects?: Readonly<Record<string, string>>;
  /**
   * Cases of a port feature the adapter refuses by design (with `NotImplemented`), by name, each with
   * its reason and where it is written down: skipped, with the reason in the case's name.
   */
  unsupported?: Readonly<Record<string, string>>;
}

/** What each part of the contract declares its cases with. */
export interface Contract {
  /** Opens a new log for the current test (closed after it). */
  openLog(partitions?: number): Promise<AdapterUnderTest>;
  /** Declares a case, as vitest's `it` (or `it.fails` for a known defect of this adapter). */
  it(name: string, fn: TestFunction): void;
  /** Known defects no case matched (a renamed case, a typo): the run must not pass silently. */
  unmatchedDefects(): string[];
}

export function contractOf(open: OpenAdapter, options: ContractOptions = {}): Contract {
  const known = options.knownDefects ?? {};
  const unsupported = options.unsupported ?? {};
  const matched = new Set<string>();
  const opened: AdapterUnderTest[] = [];
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((a) => a.close()));
  });
  return {
    async openLog(partitions = 4) {
      const adapter = await open({ partitions });
      opened.push(adapter);
      return adapter;
    },
    it(name, fn) {
      const refused = unsupported[name];
      if (refused !== undefined) {
        matched.add(name);
        return void vitestIt.skip(`${name} [not supported: ${refused}]`, fn);
      }
      const defect = known[name];
      if (defect === undefined) return void vitestIt(name, fn);
      matched.add(name);
      vitestIt.fails(`${name} [known defect: ${defect}]`, fn);
    },
    unmatchedDefects: () => [...Object.keys(known), ...Object.keys(unsupported)].filter((name) => !matched.has(name)),
  };
}

/** What an owner does first: claims the log, then opens a writer of `partitions` (all by default). */
export function ownerWriter(log: EventLog, writerId = 'writer-1', partitions?: readonly number[]): { writer: BatchWriter; epoch: number } {
  const epoch = log.claimOwnership(`contract ${writerId}`);
  return { writer: log.openWriter(writerId, epoch, partitions ?? Array.from({ length: log.partitions }, (_, p) => p)), epoch };
}

/**
 * One command's append to an `account` stream: `count` Deposited events after `expectedVersion`, each
 * with amount = 10 x its seq, at ts 1000 + the first seq unless `extra` says otherwise.
 */
export function deposits(stream: string, expectedVersion: number, partition: number, count = 1, extra: Partial<AppendRequest> = {}): AppendRequest {
  return {
    aggregateType: 'account',
    stream,
    partition,
    expectedVersion,
    events: Array.from({ length: count }, (_, i) => ({ type: 'Deposited', data: { amount: (expectedVersion + i + 1) * 10 } })),
    ts: 1_000 + expectedVersion + 1,
    meta: {},
    ...extra,
  };
}

/** Commits, then makes this thread's reads see the commit (the port's read-your-writes). */
export async function commitAndRefresh(log: EventLog, writer: BatchWriter, staged: readonly Staged[], alsoInBatch?: () => void): Promise<Committed> {
  const committed = await writer.commit(staged, alsoInBatch);
  log.refreshReads();
  return committed;
}

/** The events a stage positioned (append stages always carry them). */
export function eventsOf(staged: Staged): NonNullable<Staged['events']> {
  if (!staged.events) throw new Error('an append stage without events');
  return staged.events;
}

/** The sum of `amount`s: a fold whose result shows which events were folded. */
export const sumAmounts = (sum: number, e: { type: string; data: unknown }): number => sum + (e.data as { amount: number }).amount;
