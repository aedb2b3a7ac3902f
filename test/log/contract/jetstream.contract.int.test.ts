/**
 * The log port contract against the JetStream adapter, on a real nats-server (one for the whole file,
 * a fresh log name and cache dir per case). `reopen` is a node restart: close, open the same log with
 * the same cache dir (the catch-up then has nothing to do). A wiped cache dir rebuilt from JetStream is
 * test/log/jetstream/rebuild.int.test.ts: it brings back what the log of record holds (events, partition
 * order, command ids), not snapshots and view rows, which the storage case checks too and which are the
 * cache's own derived data by design (jetstream-log.ts). No `damageEvent`: the log of record's bytes are
 * JetStream's (a damaged message is covered in the adapter's own tests).
 */
import { afterAll, beforeAll, describe, it } from 'vitest';
import { openJetStreamLog, type JetStreamLog, type EventLog } from '../../../src/log/index.js';
import { NATS_MISSING, natsServerAvailable, startNats, type NatsCluster } from '../../support/nats-servers.js';
import { useTempDirs } from '../../support/temp-dirs.js';
import { describeEventLogContract } from './event-log.contract.js';
import { RETENTION_CASE } from './retention.contract.js';
import { SCAVENGE_PARTITION_CASE, SCAVENGE_STREAM_CASE } from './scavenge.contract.js';

const available = natsServerAvailable();
const tempDir = useTempDirs('js-contract');
let nats: NatsCluster | undefined;
let logs = 0;

if (!available) {
  describe('the log port contract: JetStreamLog', () => it.skip(NATS_MISSING, () => undefined));
} else {
  beforeAll(async () => {
    nats = await startNats(1);
  }, 30_000);
  afterAll(async () => {
    await nats?.stop();
  });
  describeEventLogContract('JetStreamLog', async ({ partitions }) => {
    const name = `contract${process.pid}_${++logs}`;
    const localDir = await tempDir();
    const open = (p?: number) => openJetStreamLog({ servers: nats!.urls, name, localDir, ...(p ? { partitions: p } : {}) });
    let log: EventLog = await open(partitions);
    return {
      get log() {
        return log;
      },
      async reopen() {
        await log.close();
        return (log = await open());
      },
      close: () => log.close(),
    };
  }, {
    unsupported: {
      [RETENTION_CASE]: 'the JetStream log refuses retention settings with NotImplemented (docs/cluster.md, "Left to do")',
      [SCAVENGE_STREAM_CASE]: 'the JetStream log refuses a scavenge with NotImplemented, as it refuses retention (docs/cluster.md, "Left to do")',
      [SCAVENGE_PARTITION_CASE]: 'the JetStream log refuses a scavenge with NotImplemented, as it refuses retention (docs/cluster.md, "Left to do")',
    },
  });
}
