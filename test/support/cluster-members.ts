/**
 * Helpers for the cluster ownership tests: group members in child processes
 * (test/support/cluster-member-child.ts), their JSON-line events, an observer of the group's KV
 * bucket from the test process, and the checks every scenario runs on the events.
 *
 * Times are wall-clock ms (`performance.timeOrigin + performance.now()`) from processes of one
 * machine, so they compare across children and with the test process.
 */
import { Kvm, type KV } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { runTsScript, type ChildRun } from './child-process.js';

export const wallNow = (): number => performance.timeOrigin + performance.now();

export interface MemberEvent {
  ev: 'joined' | 'members' | 'acquired' | 'revoked' | 'serving' | 'resumed' | 'error' | 'left' | 'closed';
  node: string;
  t: number;
  p?: number;
  epoch?: number | null;
  reason?: string;
  prevT?: number;
  members?: string[];
  serving?: (number | null)[];
  gapMs?: number;
  message?: string;
}

export interface MemberOptions {
  servers: string[];
  group: string;
  nodeId: string;
  partitions: number;
  leaseMs?: number;
  memberTimeoutMs?: number;
  catchUpMs?: number;
}

const childScript = new URL('./cluster-member-child.ts', import.meta.url);

export class MemberProcess {
  readonly nodeId: string;
  readonly run: ChildRun;
  /** When the test killed it (wall clock), if it did. */
  killedAt: number | undefined;

  constructor(options: MemberOptions) {
    this.nodeId = options.nodeId;
    this.run = runTsScript(childScript, [JSON.stringify(options)]);
  }

  events(): MemberEvent[] {
    return this.run.lines.flatMap((line) => {
      try {
        return [JSON.parse(line) as MemberEvent];
      } catch {
        return [];
      }
    });
  }

  /** Partition -> epoch this member serves, by its probe's latest answers. */
  serving(): Map<number, number> {
    const out = new Map<number, number>();
    for (const e of this.events()) {
      if (e.ev !== 'serving') continue;
      if (e.epoch === null || e.epoch === undefined) out.delete(e.p!);
      else out.set(e.p!, e.epoch);
    }
    return out;
  }

  send(command: 'leave' | 'close'): void {
    this.run.child.stdin.write(`${command}\n`);
  }

  async kill(): Promise<void> {
    if (this.killedAt === undefined && this.run.child.exitCode === null) this.killedAt = wallNow();
    this.run.child.kill('SIGCONT');
    await this.run.kill();
  }

  pause(): void {
    this.run.child.kill('SIGSTOP');
  }

  resume(): void {
    this.run.child.kill('SIGCONT');
  }
}

/** Polls `condition` every 50 ms until it holds; fails after `timeoutMs` (generous: a condition, not a speed). */
export async function waitFor(what: string, condition: () => boolean, timeoutMs = 90_000): Promise<void> {
  const until = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** True when the members serve exactly `counts[i]` partitions each and every partition exactly once. */
export function spreadIs(members: readonly MemberProcess[], partitions: number, counts: readonly number[]): boolean {
  const served = members.map((m) => m.serving());
  if (served.some((s, i) => s.size !== counts[i])) return false;
  const all = served.flatMap((s) => [...s.keys()]);
  return all.length === partitions && new Set(all).size === partitions;
}

/**
 * The safety property, from every member's probe: for each partition, the time spans in which a
 * member's `epochOf` answered an epoch (first answer to last answer) never overlap between two
 * epochs, and epochs are served in increasing order. A member killed while serving counts as serving
 * up to its kill. Answers violations (empty when safe).
 */
export function overlaps(members: readonly MemberProcess[], partitions: number): string[] {
  const spans: { p: number; epoch: number; node: string; from: number; to: number }[] = [];
  for (const m of members) {
    const open = new Map<number, { epoch: number; from: number }>();
    for (const e of m.events()) {
      if (e.ev !== 'serving') continue;
      const was = open.get(e.p!);
      if (was !== undefined) spans.push({ p: e.p!, epoch: was.epoch, node: m.nodeId, from: was.from, to: e.prevT! });
      open.delete(e.p!);
      if (typeof e.epoch === 'number') open.set(e.p!, { epoch: e.epoch, from: e.t });
    }
    for (const [p, was] of open) spans.push({ p, epoch: was.epoch, node: m.nodeId, from: was.from, to: m.killedAt ?? Infinity });
  }
  const violations: string[] = [];
  for (let p = 0; p < partitions; p++) {
    const mine = spans.filter((s) => s.p === p).sort((a, b) => a.epoch - b.epoch || a.from - b.from);
    for (let i = 1; i < mine.length; i++) {
      const a = mine[i - 1]!;
      const b = mine[i]!;
      if (a.epoch === b.epoch && a.node !== b.node) violations.push(`partition ${p}: epoch ${a.epoch} served by ${a.node} and ${b.node}`);
      if (a.epoch < b.epoch && !(a.to < b.from)) violations.push(`partition ${p}: ${a.node} served epoch ${a.epoch} until ${a.to.toFixed(1)}, ${b.node} served epoch ${b.epoch} from ${b.from.toFixed(1)}`);
    }
  }
  return violations;
}

/** Every `acquired` event, in time order, with the epoch it replaced (the greatest epoch acquired before it on that partition). */
export function acquisitions(members: readonly MemberProcess[]): (MemberEvent & { previous: MemberEvent | undefined })[] {
  const all = members.flatMap((m) => m.events().filter((e) => e.ev === 'acquired')).sort((a, b) => a.t - b.t);
  return all.map((e) => ({ ...e, previous: all.filter((o) => o.p === e.p && o.epoch! < e.epoch!).sort((a, b) => b.epoch! - a.epoch!)[0] }));
}

/**
 * For handovers between running members: the previous epoch's holder reported `revoked` before the
 * next epoch was acquired. Members in `except` (paused or killed ones) are not asked. Answers violations.
 */
export function revokedBeforeAcquired(members: readonly MemberProcess[], except: readonly string[] = []): string[] {
  const revokes = members.flatMap((m) => m.events().filter((e) => e.ev === 'revoked'));
  const violations: string[] = [];
  for (const a of acquisitions(members)) {
    if (a.previous === undefined || except.includes(a.previous.node)) continue;
    const r = revokes.find((e) => e.p === a.p && e.epoch === a.previous!.epoch && e.node === a.previous!.node);
    if (r === undefined) violations.push(`partition ${a.p}: ${a.previous.node} never revoked epoch ${a.previous.epoch!} before ${a.node} took ${a.epoch!}`);
    else if (!(r.t <= a.t)) violations.push(`partition ${a.p}: ${a.node} acquired epoch ${a.epoch!} at ${a.t.toFixed(1)}, before ${r.node} revoked ${r.epoch!} at ${r.t.toFixed(1)}`);
  }
  return violations;
}

/** One lease key's value at one revision, as the observer first saw it. */
export interface LeaseSighting {
  p: number;
  revision: number;
  owner: string | null;
  epoch: number;
  seenAt: number;
}

/**
 * Watches the group's bucket from the test process (its own connection) and also reads every lease
 * key every 200 ms, so it keeps seeing changes while a watcher is stalled by a dead nats-server.
 */
export class LeaseObserver {
  readonly sightings: LeaseSighting[] = [];
  readonly #nc: NatsConnection;
  readonly #kv: KV;
  readonly #partitions: number;
  readonly #latest = new Map<number, number>();
  #timer: NodeJS.Timeout | undefined;
  #stop: (() => void) | undefined;

  private constructor(nc: NatsConnection, kv: KV, partitions: number) {
    this.#nc = nc;
    this.#kv = kv;
    this.#partitions = partitions;
  }

  static async start(servers: string[], group: string, partitions: number): Promise<LeaseObserver> {
    const nc = await connect({ servers, maxReconnectAttempts: -1, reconnectTimeWait: 250 });
    const kv = await new Kvm(nc).open(`eventide-cluster-${group}`);
    const observer = new LeaseObserver(nc, kv, partitions);
    const iterator = await kv.watch({ key: 'leases.>' });
    observer.#stop = () => iterator.stop();
    void (async () => {
      for await (const e of iterator) observer.#see(e.key, e.revision, e.operation === 'PUT' ? e.string() : null);
    })().catch(() => {});
    const poll = async (): Promise<void> => {
      for (let p = 0; p < partitions; p++) {
        const e = await kv.get(`leases.${p}`).catch(() => null);
        if (e) observer.#see(e.key, e.revision, e.operation === 'PUT' ? e.string() : null);
      }
    };
    observer.#timer = setInterval(() => void poll(), 200);
    return observer;
  }

  #see(key: string, revision: number, value: string | null): void {
    const p = Number(key.slice('leases.'.length));
    if (!Number.isInteger(p) || p >= this.#partitions || (this.#latest.get(p) ?? 0) >= revision) return;
    this.#latest.set(p, revision);
    const v = value === null ? { owner: null, epoch: -1 } : (JSON.parse(value) as { owner: string | null; epoch: number });
    this.sightings.push({ p, revision, owner: v.owner, epoch: v.epoch, seenAt: wallNow() });
  }

  of(p: number): LeaseSighting[] {
    return this.sightings.filter((s) => s.p === p);
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#stop?.();
    await this.#nc.close().catch(() => {});
  }
}
