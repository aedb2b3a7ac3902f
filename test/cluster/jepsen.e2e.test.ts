/**
 * A Jepsen-style suite for cluster mode (issue 14, docs/cluster.md "Tested"): three nats-servers (one
 * JetStream cluster, R3 streams) and three eventide servers on loopback, 8 partitions, 2 s leases.
 * Concurrent clients send deposits through different servers, each with its own commandId, and every
 * attempt is recorded ok / failed / unknown (support/jepsen-history.ts). Each test injects one fault
 * under load, restores the cluster, and then, once every partition has one agreed owner again, every
 * operation not answered ok yet is retried with its commandId until it is (an unknown one then says
 * whether it had been applied: `duplicate`), every account is read through every server, and the
 * checker (support/jepsen-checker.ts, whose header lists what is and is not checkable from outside)
 * must find nothing in the whole history so far: every ok write exactly once, nothing invented, seqs
 * and partition offsets contiguous, balances equal to the folds and to the sums of the applied
 * deposits, every server the same answer, no partition served by two servers in one lease epoch (nor by
 * a deposed owner after the next one served it).
 *
 * One cluster for the file, in the order below (the join comes last: it leaves four servers): starting
 * a server is most of the time a test takes on a loaded box (the log line's `phases`), and every test
 * starts from, and leaves, every server up and serving. Load phases last a few seconds; every wait is a
 * deadline, not a pass/fail criterion.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NATS_MISSING, natsServerAvailable } from '../support/nats-servers.js';
import { checkRun } from './support/jepsen-checker.js';
import { JepsenCluster, sleep } from './support/jepsen-cluster.js';

const available = natsServerAvailable();
const TEST_MS = 240_000;

describe.skipIf(!available)(available ? 'cluster mode under faults (Jepsen-style)' : `cluster mode under faults (skipped: ${NATS_MISSING})`, () => {
  let c: JepsenCluster;

  beforeAll(async () => {
    c = await JepsenCluster.start('j');
    await c.openAccounts();
  }, TEST_MS);

  afterAll(async () => {
    await c?.stop();
  }, 60_000);

  /** Runs `fault` under load from a cluster where every server serves; then settles and checks the whole history. */
  async function underLoad(fault: () => Promise<void>): Promise<void> {
    await c.waitForOwners('every server up and serving before the fault');
    c.phases.length = 0;
    c.mark('before the fault');
    const load = c.load();
    await sleep(1500);
    await fault();
    await sleep(1000);
    const { ok, other } = await load.stop();
    // The load did write (a run with no ok answer would check little).
    expect(ok).toBeGreaterThan(0);
    await c.waitForOwners('a quiet cluster: one agreed owner per partition');
    await c.settle();
    const reads = await c.readAll();
    const problems = checkRun({ ops: c.history.all(), accounts: c.accounts, reads, samples: c.samples });
    // What the run went through, for whoever reads the log of a failure (or of a pass).
    console.log(JSON.stringify({ load: { ok, other }, history: c.history.summary(), samples: c.samples.length, phases: c.phases }));
    expect(problems).toEqual([]);
  }

  it('kill -9 of an eventide server under load: its partitions move to the survivors, writes resume everywhere, and it rejoins when restarted', async () => {
    await underLoad(async () => {
      const victim = c.nodes[1]!;
      expect(await victim.stop('SIGKILL')).toBe('SIGKILL');
      const moved = await c.waitForOwners('the survivors to own every partition');
      expect(moved).not.toContain(victim.nodeId);
      await c.depositEverywhere();
      await victim.start();
      c.mark('restart');
      expect(await c.waitForOwners('the restarted server to own partitions again')).toContain(victim.nodeId);
    });
  }, TEST_MS);

  it('kill -9 of one nats-server under load: R3 streams keep taking writes on every partition, and it rejoins when restarted', async () => {
    await underLoad(async () => {
      await c.nats.kill(0);
      await sleep(1000);
      await c.depositEverywhere();
      await c.nats.restart(0);
      c.mark('restart the nats-server');
      await c.depositEverywhere();
    });
  }, TEST_MS);

  it('an owner stopped (SIGSTOP) longer than its lease is replaced, and once resumed (SIGCONT) it neither serves nor writes under its old lease', async () => {
    await underLoad(async () => {
      const zombie = c.nodes[2]!;
      expect((await c.waitForOwners('agreement')).includes(zombie.nodeId)).toBe(true);
      zombie.pause();
      // Clients keep sending to the zombie: those requests wait in its sockets and run when it resumes.
      expect(await c.waitForOwners('the two others to own every partition')).not.toContain(zombie.nodeId);
      await c.depositEverywhere();
      zombie.resume();
      expect(await c.waitForOwners('the resumed server to own partitions again')).toContain(zombie.nodeId);
    });
  }, TEST_MS);

  it('a rolling restart (SIGTERM, back and serving, next) of all three eventide servers under load', async () => {
    await underLoad(async () => {
      for (const node of [...c.nodes]) {
        expect(await node.stop('SIGTERM')).toBe(0);
        c.mark(`SIGTERM ${node.nodeId}`);
        await c.waitForOwners(`the others to own every partition while ${node.nodeId} is down`);
        await node.start();
        c.mark(`restart ${node.nodeId}`);
        await c.waitForOwners(`${node.nodeId} to serve again after its restart`);
      }
      await c.depositEverywhere();
    });
  }, TEST_MS);

  it('a fourth server joining under load gets partitions (rebalance) and every write stays exactly once', async () => {
    await underLoad(async () => {
      const joining = await c.newNode('s4');
      c.nodes.push(joining);
      await joining.start();
      c.mark('start s4');
      expect(await c.waitForOwners('the fourth server to own partitions')).toContain('s4');
      await c.depositEverywhere();
    });
  }, TEST_MS);
});
