/**
 * A Jepsen-style suite for cluster mode (issue 14, docs/cluster.md "Tested"): three nats-servers (one
 * JetStream cluster, R3 streams) and three eventide servers on loopback, 8 partitions, 2 s leases.
 * Concurrent clients send deposits through different servers, each with its own commandId, and every
 * attempt is recorded ok / failed / unknown (support/jepsen-history.ts). During the load one fault is
 * injected per test; afterwards, once every partition has one agreed owner again, every operation not
 * answered ok is retried with its commandId until it is (an unknown one then says whether it had been
 * applied: `duplicate`), every account is read through every server, and the checker
 * (support/jepsen-checker.ts, whose header lists what is and is not checkable from outside) must find
 * nothing: every ok write exactly once, nothing invented, seqs and partition offsets contiguous,
 * balances equal the folds and the sums of the applied deposits, every server the same answer, and no
 * partition served by two servers in one lease epoch (nor by a deposed owner after the next one served it).
 *
 * A fresh cluster per test: a fault that leaves something stuck fails its own test only. Load phases
 * last a few seconds; every wait is a deadline, not a pass/fail criterion.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { NATS_MISSING, natsServerAvailable } from '../support/nats-servers.js';
import { checkRun } from './support/jepsen-checker.js';
import { JepsenCluster, sleep } from './support/jepsen-cluster.js';

const available = natsServerAvailable();
const TEST_MS = 300_000;

/** Settles every operation, reads every account through every live server and runs the checker. */
async function check(cluster: JepsenCluster): Promise<void> {
  const before = cluster.history.summary();
  await cluster.waitForOwners('a quiet cluster: one agreed owner per partition');
  await cluster.settle();
  const reads = await cluster.readAll();
  const problems = checkRun({ ops: cluster.history.all(), accounts: cluster.accounts, reads, samples: cluster.samples });
  // What the run went through, for whoever reads the log of a failure (or of a pass).
  console.log(JSON.stringify({ beforeSettle: before, afterSettle: cluster.history.summary(), samples: cluster.samples.length }));
  expect(problems).toEqual([]);
  // The load did write (a run with no ok answer would check nothing).
  expect(before.attempts.ok).toBeGreaterThan(0);
}

describe.skipIf(!available)(available ? 'cluster mode under faults (Jepsen-style)' : `cluster mode under faults (skipped: ${NATS_MISSING})`, () => {
  let cluster: JepsenCluster | undefined;
  afterEach(async () => {
    await cluster?.stop();
    cluster = undefined;
  }, 60_000);

  it('kill -9 of an eventide server under load: its partitions move to the survivors, writes resume everywhere, and it rejoins when restarted', async () => {
    const c = (cluster = await JepsenCluster.start('kill'));
    await c.openAccounts();
    const load = c.load();
    await sleep(2000);
    const victim = c.nodes[1]!;
    expect(await victim.stop('SIGKILL')).toBe('SIGKILL');
    const moved = await c.waitForOwners('the survivors to own every partition');
    expect(moved).not.toContain(victim.nodeId);
    await c.depositEverywhere();
    await victim.start();
    const back = await c.waitForOwners('the restarted server to own partitions again');
    expect(back).toContain(victim.nodeId);
    await sleep(1500);
    await load.stop();
    await check(c);
  }, TEST_MS);

  it('kill -9 of one nats-server under load: R3 streams keep taking writes on every partition, and it rejoins when restarted', async () => {
    const c = (cluster = await JepsenCluster.start('nats'));
    await c.openAccounts();
    const load = c.load();
    await sleep(2000);
    await c.nats.kill(0);
    await sleep(2000);
    await c.depositEverywhere();
    await c.nats.restart(0);
    await sleep(2000);
    await c.depositEverywhere();
    await load.stop();
    await check(c);
  }, TEST_MS);

  it('an owner stopped (SIGSTOP) longer than its lease is replaced, and once resumed (SIGCONT) it neither serves nor writes under its old lease', async () => {
    const c = (cluster = await JepsenCluster.start('stop'));
    await c.openAccounts();
    const owners = await c.waitForOwners('agreement');
    const zombie = c.nodes[1]!;
    const its = owners.flatMap((o, p) => (o === zombie.nodeId ? [p] : []));
    expect(its.length).toBeGreaterThan(0);
    const load = c.load();
    await sleep(2000);
    zombie.pause();
    // Clients keep sending to the zombie: those requests wait in its sockets and run when it resumes.
    const moved = await c.waitForOwners('the two others to own every partition');
    expect(moved).not.toContain(zombie.nodeId);
    await c.depositEverywhere();
    zombie.resume();
    const back = await c.waitForOwners('the resumed server to own partitions again');
    expect(back).toContain(zombie.nodeId);
    await sleep(1500);
    await load.stop();
    await check(c);
  }, TEST_MS);

  it('a rolling restart (SIGTERM, back and serving, next) of all three eventide servers under load', async () => {
    const c = (cluster = await JepsenCluster.start('roll'));
    await c.openAccounts();
    const load = c.load();
    await sleep(1500);
    for (const node of [...c.nodes]) {
      expect(await node.stop('SIGTERM')).toBe(0);
      await c.waitForOwners(`the others to own every partition while ${node.nodeId} is down`);
      await node.start();
      await c.waitForOwners(`${node.nodeId} to serve again after its restart`);
    }
    await c.depositEverywhere();
    await load.stop();
    await check(c);
  }, TEST_MS);

  it('a fourth server joining under load gets partitions (rebalance) and every write stays exactly once', async () => {
    const c = (cluster = await JepsenCluster.start('join'));
    await c.openAccounts();
    const load = c.load();
    await sleep(2000);
    const joining = await c.newNode('s4');
    c.nodes.push(joining);
    await joining.start();
    const owners = await c.waitForOwners('the fourth server to own partitions');
    expect(owners).toContain('s4');
    await c.depositEverywhere();
    await load.stop();
    await check(c);
  }, TEST_MS);
});
