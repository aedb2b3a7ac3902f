/**
 * The checker of a Jepsen-style run (test/cluster/jepsen.e2e.test.ts): given the history of operations
 * (jepsen-history.ts), what every server answers for every account after the faults and a quiet period,
 * and the `/partitions` samples taken during the run, it lists every violation it finds (an empty list
 * is a pass). Pure: no I/O, so it is unit-tested on made-up histories (jepsen-checker.unit.test.ts).
 *
 * What it checks, per account:
 * - every server answers the same events and the same state (any server answers any request);
 * - seqs are 1..n with no gap, and each event carries the commandId of an operation of this account
 *   (nothing invented), of the event type and amount that operation asked for, and no commandId twice;
 * - every operation that was ever answered ok is in the history exactly once; one never answered ok
 *   (still unknown, or only refused) at most once, and only refused (definite refusals only) never;
 * - an operation's first ok answer says `duplicate` only if an earlier attempt was unknown (a definite
 *   refusal did nothing), and every later ok answer says `duplicate`;
 * - a first-time ok answer's version is its event's seq, and its balance the fold up to there;
 * - the state's version is n, its balance the fold of the history, which is the sum of the deposits
 *   applied (those answered ok plus the unknown ones that turned out applied).
 * Per partition: the offsets of all the events of the run's accounts on it are 0..k-1, each once (a
 * partition whose log holds only this run's accounts: two writers at one position, or a hole, show here).
 *
 * Ownership, as far as it is observable from outside (`/partitions` samples): no two servers ever said
 * they *served* a partition with the same lease epoch (a lease epoch names one holder); and no server
 * said it served a partition at epoch e in an answer it computed after another server's answer saying it
 * served that partition at a later epoch had arrived (a request sent after that answer came; so a
 * deposed owner, a zombie back from SIGSTOP, stopped serving before its lease could be taken). What is not
 * observable over HTTP: which node wrote which message of a partition's stream and under which epoch
 * (the JetStream headers carry it, the HTTP API does not), and anything between two samples. The log
 * being contiguous, with every event an operation's and exactly once, is what a second writer in one
 * epoch would break, so those checks stand for the rest.
 */
import type { Operation } from './jepsen-history.js';

export interface EventView {
  stream: string;
  type: string;
  seq: number;
  partition: number;
  offset: number;
  data: { amount?: number; owner?: string };
  meta: { commandId?: string };
}

/** One server's answers for one account: its state (GET) and its full history (GET events, every page). */
export interface AccountRead {
  version: number;
  balance: number;
  events: EventView[];
}

export interface PartitionSample {
  /** The node id of the server asked. */
  via: string;
  /** When the request was sent and its answer came (the test process's clock, ms). */
  sentAt: number;
  answeredAt: number;
  partitions: { partition: number; served?: boolean; epoch?: number; owner?: string }[];
}

export interface RunObservations {
  ops: readonly Operation[];
  accounts: readonly string[];
  /** server node id -> account -> what it answered. */
  reads: ReadonlyMap<string, ReadonlyMap<string, AccountRead>>;
  samples: readonly PartitionSample[];
}

const EVENT_OF = { Open: 'AccountOpened', Deposit: 'Deposited' } as const;

export function checkRun(run: RunObservations): string[] {
  const problems: string[] = [];
  const opsByAccount = new Map<string, Operation[]>(run.accounts.map((a) => [a, []]));
  for (const op of run.ops) {
    const list = opsByAccount.get(op.account);
    if (list === undefined) problems.push(`operation ${op.commandId} is for ${op.account}, not an account of the run`);
    else list.push(op);
  }
  const servers = [...run.reads.keys()];
  if (servers.length === 0) problems.push('no server was read');
  const offsets = new Map<number, number[]>();

  for (const account of run.accounts) {
    const reads = servers.map((s) => run.reads.get(s)?.get(account));
    const first = reads[0];
    if (first === undefined) {
      problems.push(`${account}: not read`);
      continue;
    }
    for (const [i, r] of reads.entries()) {
      if (r === undefined) problems.push(`${account}: not read through ${servers[i]}`);
      else if (JSON.stringify(r) !== JSON.stringify(first)) problems.push(`${account}: ${servers[i]} answers another state or history than ${servers[0]} (version ${r.version} vs ${first.version}, ${r.events.length} vs ${first.events.length} events)`);
    }
    problems.push(...checkAccount(account, first, opsByAccount.get(account) ?? []));
    for (const e of first.events) {
      const list = offsets.get(e.partition) ?? [];
      list.push(e.offset);
      offsets.set(e.partition, list);
    }
  }

  for (const [partition, list] of offsets) {
    const sorted = [...list].sort((a, b) => a - b);
    const bad = sorted.findIndex((o, i) => o !== i);
    if (bad !== -1) problems.push(`partition ${partition}: offsets are not 0..${sorted.length - 1} each once (at index ${bad}: ${sorted[bad]}; ${sorted.length} events)`);
  }

  problems.push(...checkEpochs(run.samples));
  return problems;
}

function checkAccount(account: string, read: AccountRead, ops: Operation[]): string[] {
  const problems: string[] = [];
  const byId = new Map(ops.map((op) => [op.commandId, op]));
  const seen = new Map<string, number>();
  let balance = 0;
  /** Balance right after each seq (index seq - 1). */
  const balances: number[] = [];
  for (const [i, e] of read.events.entries()) {
    if (e.seq !== i + 1) problems.push(`${account}: event ${i} has seq ${e.seq}, expected ${i + 1}`);
    if (e.stream !== account) problems.push(`${account}: event seq ${e.seq} belongs to stream ${e.stream}`);
    const id = e.meta.commandId;
    const op = id === undefined ? undefined : byId.get(id);
    if (id === undefined || op === undefined) problems.push(`${account}: event seq ${e.seq} (${e.type}) carries ${id === undefined ? 'no commandId' : `commandId ${id}, which no client sent for this account`}`);
    else {
      if (seen.has(id)) problems.push(`${account}: commandId ${id} applied twice (seq ${seen.get(id)} and ${e.seq})`);
      seen.set(id, e.seq);
      if (e.type !== EVENT_OF[op.type]) problems.push(`${account}: event seq ${e.seq} is ${e.type}, but ${id} was a ${op.type}`);
      if (op.type === 'Deposit' && e.data.amount !== op.amount) problems.push(`${account}: ${id} deposited ${e.data.amount}, the client asked ${op.amount}`);
    }
    if (e.type === 'Deposited') balance += e.data.amount ?? 0;
    balances.push(balance);
  }

  for (const op of ops) {
    const oks = op.attempts.filter((a) => a.outcome === 'ok');
    const seq = seen.get(op.commandId);
    if (oks.length > 0 && seq === undefined) problems.push(`${account}: ${op.commandId} was answered ok but is not in the history (lost)`);
    if (oks.length === 0 && seq !== undefined && op.attempts.every((a) => a.outcome === 'failed')) {
      problems.push(`${account}: ${op.commandId} was only ever refused (${op.attempts.map((a) => `${a.status} ${a.error ?? ''}`.trim()).join(', ')}) but is in the history at seq ${seq}`);
    }
    const firstOk = op.attempts.findIndex((a) => a.outcome === 'ok');
    if (firstOk === -1) continue;
    const before = op.attempts.slice(0, firstOk);
    const answer = op.attempts[firstOk]!;
    if (answer.duplicate && !before.some((a) => a.outcome === 'unknown')) {
      problems.push(`${account}: ${op.commandId}'s first ok answer says duplicate, but every earlier attempt was a definite refusal (${before.map((a) => `${a.status} ${a.error ?? ''}`.trim()).join(', ') || 'none'})`);
    }
    for (const later of op.attempts.slice(firstOk + 1)) {
      if (later.outcome === 'ok' && !later.duplicate) problems.push(`${account}: ${op.commandId} was answered ok, not duplicate, more than once`);
    }
    for (const a of op.attempts) {
      if (a.outcome !== 'ok' || a.duplicate || seq === undefined) continue;
      if (a.version !== seq) problems.push(`${account}: ${op.commandId} was answered version ${a.version}, its event is seq ${seq}`);
      if (a.balance !== balances[seq - 1]) problems.push(`${account}: ${op.commandId} was answered balance ${a.balance}, the history's fold up to seq ${seq} is ${balances[seq - 1]}`);
    }
  }

  if (read.version !== read.events.length) problems.push(`${account}: state version ${read.version}, history has ${read.events.length} events`);
  if (read.balance !== balance) problems.push(`${account}: state balance ${read.balance}, the fold of the history is ${balance}`);
  const applied = ops.filter((op) => op.type === 'Deposit' && seen.has(op.commandId)).reduce((sum, op) => sum + op.amount, 0);
  if (applied !== balance) problems.push(`${account}: the deposits applied sum to ${applied}, the fold of the history is ${balance}`);
  return problems;
}

/** See the header: one server per (partition, epoch); no server serving an epoch after a later one was served elsewhere. */
function checkEpochs(samples: readonly PartitionSample[]): string[] {
  const problems: string[] = [];
  /** Per partition, the answers saying a server served it: (via, epoch, sentAt, answeredAt). */
  const served = new Map<number, { via: string; epoch: number; sentAt: number; answeredAt: number }[]>();
  for (const s of samples) {
    for (const p of s.partitions) {
      if (p.served !== true || p.epoch === undefined) continue;
      const list = served.get(p.partition) ?? [];
      list.push({ via: s.via, epoch: p.epoch, sentAt: s.sentAt, answeredAt: s.answeredAt });
      served.set(p.partition, list);
    }
  }
  for (const [partition, list] of served) {
    for (const a of list) {
      const stale = list.find((b) => b.via !== a.via && b.epoch > a.epoch && b.answeredAt < a.sentAt);
      if (stale) {
        problems.push(`partition ${partition}: ${a.via} said it served epoch ${a.epoch} (asked at ${a.sentAt.toFixed(0)} ms) after ${stale.via} had said it served epoch ${stale.epoch} (answered at ${stale.answeredAt.toFixed(0)} ms)`);
        break;
      }
    }
  }
  return [...problems, ...sameEpoch(samples)];
}

function sameEpoch(samples: readonly PartitionSample[]): string[] {
  const holders = new Map<string, Set<string>>();
  for (const s of samples) {
    for (const p of s.partitions) {
      if (p.served !== true || p.epoch === undefined) continue;
      const key = `${p.partition}@${p.epoch}`;
      const set = holders.get(key) ?? new Set();
      set.add(s.via);
      holders.set(key, set);
    }
  }
  return [...holders].filter(([, set]) => set.size > 1).map(([key, set]) => `partition ${key.replace('@', ' epoch ')}: served by ${[...set].sort().join(' and ')}`);
}
