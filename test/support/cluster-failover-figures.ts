/**
 * Measures, not tests: `node --import tsx test/support/cluster-failover-figures.ts [runs] [leaseMs]`
 * starts 3 nats-servers and, per run, three members of a fresh group in child processes (12
 * partitions), then times three handovers on the wall clock of this machine:
 * - join: a fourth member starts -> 3/3/3/3 served (from its start, so it includes its process start-up);
 * - leave: one member `leave()`s -> the others serve all 12;
 * - kill -9: one member is killed -> the others serve all 12 (the lease must lapse first).
 * Prints one JSON line per run and the medians. Figures from a loaded 2-core box: read them as such.
 */
import { MemberProcess, spreadIs, waitFor, wallNow } from './cluster-members.js';
import { startNats } from './nats-servers.js';

const runs = Number(process.argv[2] ?? 3);
const leaseMs = Number(process.argv[3] ?? 3000);
const P = 12;
const nats = await startNats(3);
const results: { join: number; leave: number; kill: number }[] = [];
try {
  for (let run = 0; run < runs; run++) {
    const start = (group: string, id: string): MemberProcess => new MemberProcess({ servers: nats.urls, group, nodeId: id, partitions: P, leaseMs });
    const group = `fig${run}-${process.pid}`;
    const members = ['a', 'b', 'c'].map((id) => start(group, id));
    try {
      await waitFor('4/4/4', () => spreadIs(members, P, [4, 4, 4]));
      let t = wallNow();
      const d = start(group, 'd');
      members.push(d);
      await waitFor('3/3/3/3', () => spreadIs(members, P, [3, 3, 3, 3]));
      const join = wallNow() - t;
      t = wallNow();
      d.send('leave');
      await waitFor('4/4/4 after d left', () => spreadIs(members.slice(0, 3), P, [4, 4, 4]));
      const leave = wallNow() - t;
      t = wallNow();
      await members[2]!.kill();
      await waitFor('6/6 after c died', () => spreadIs(members.slice(0, 2), P, [6, 6]));
      const kill = wallNow() - t;
      results.push({ join: Math.round(join), leave: Math.round(leave), kill: Math.round(kill) });
      console.log(JSON.stringify({ run, leaseMs, ...results.at(-1) }));
    } finally {
      await Promise.all(members.map((m) => m.kill()));
    }
  }
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  console.log(JSON.stringify({ leaseMs, runs, medianMs: { join: median(results.map((r) => r.join)), leave: median(results.map((r) => r.leave)), kill: median(results.map((r) => r.kill)) } }));
} finally {
  await nats.stop();
}
