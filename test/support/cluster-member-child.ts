/**
 * Child process: `node --import tsx test/support/cluster-member-child.ts '<json options>'` joins a
 * partition group (src/cluster/) and prints what it does as JSON lines on stdout, each with `t`, the
 * wall-clock time in ms (fractional; all children run on one machine, so their times compare):
 * - `joined`, `members` (the live set), `acquired` / `revoked` (the group's events), `error`;
 * - `serving` whenever a probe every `probeMs` finds `epochOf(p)` changed: `{ p, epoch, t, prevT }`,
 *   `prevT` being the previous probe, the last instant the old answer was seen;
 * - `resumed` when the probe finds it was not run for over a second (SIGSTOP/SIGCONT): `serving` is
 *   what `epochOf` answers at that first probe, before the process did anything else of its own.
 * Stdin commands: `leave` (hand everything over, print `left`, exit) and `close`.
 */
import { joinGroup } from '../../src/cluster/index.js';

interface ChildOptions {
  servers: string[];
  group: string;
  nodeId: string;
  partitions: number;
  leaseMs?: number;
  memberTimeoutMs?: number;
  replicas?: 1 | 3 | 5;
  /** How long `onAcquired` takes ("catching up"), ms. */
  catchUpMs?: number;
  probeMs?: number;
}

const o = JSON.parse(process.argv[2] ?? '{}') as ChildOptions;
const now = (): number => performance.timeOrigin + performance.now();
const print = (event: Record<string, unknown>): void => void process.stdout.write(`${JSON.stringify({ ...event, node: o.nodeId, t: event.t ?? now() })}\n`);

const group = await joinGroup({
  servers: o.servers,
  group: o.group,
  nodeId: o.nodeId,
  partitions: o.partitions,
  ...(o.leaseMs === undefined ? {} : { leaseMs: o.leaseMs }),
  ...(o.memberTimeoutMs === undefined ? {} : { memberTimeoutMs: o.memberTimeoutMs }),
  replicas: o.replicas ?? 3,
  onAcquired: async (p, epoch) => {
    print({ ev: 'acquired', p, epoch });
    await new Promise((r) => setTimeout(r, o.catchUpMs ?? 30));
  },
  onRevoked: (p, epoch, reason) => print({ ev: 'revoked', p, epoch, reason }),
  onMembersChanged: (members) => print({ ev: 'members', members: members.map((m) => m.nodeId) }),
  onError: (err) => print({ ev: 'error', code: err.code, message: err.message }),
});
print({ ev: 'joined' });

const seen = new Array<number | null>(o.partitions).fill(null);
let lastProbe = now();
const probeOnce = (): void => {
  const t = now();
  const answers = Array.from({ length: o.partitions }, (_, p) => group.epochOf(p));
  if (t - lastProbe > 1000) print({ ev: 'resumed', gapMs: Math.round(t - lastProbe), serving: answers, t });
  answers.forEach((epoch, p) => {
    if (epoch !== seen[p]) print({ ev: 'serving', p, epoch, t, prevT: lastProbe });
    seen[p] = epoch;
  });
  lastProbe = t;
};
const probe = setInterval(probeOnce, o.probeMs ?? 20);

let stopping = false;
process.stdin.setEncoding('utf8').on('data', (chunk: string) => {
  for (const command of chunk.split('\n').map((s) => s.trim())) {
    if ((command !== 'leave' && command !== 'close') || stopping) continue;
    stopping = true;
    void (command === 'leave' ? group.leave() : group.close()).then(() => {
      clearInterval(probe);
      probeOnce(); // the last answers (all null by now), so the probe's record ends where the member did
      print({ ev: command === 'leave' ? 'left' : 'closed' });
      process.exit(0);
    });
  }
});
