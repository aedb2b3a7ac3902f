/**
 * The log port contract against the LMDB adapter, on real files: a fresh data dir per log, reopened on
 * the same dir for the persistence case, and damaged through a raw lmdb handle for the corruption case.
 * A known defect of the adapter runs as an expected failure until it is fixed (see the entry below).
 */
import { LmdbLog, type EventLog } from '../../../src/log/index.js';
import { flipValueByte } from '../../support/log-damage.js';
import { useTempDirs } from '../../support/temp-dirs.js';
import { describeEventLogContract } from './event-log.contract.js';

const tempDir = useTempDirs('log-contract');

describeEventLogContract('LmdbLog', async ({ partitions }) => {
  const dir = await tempDir();
  let log: EventLog = LmdbLog.open(dir, { partitions });
  return {
    get log() {
      return log;
    },
    async reopen() {
      await log.close();
      return (log = LmdbLog.open(dir));
    },
    async damageEvent(aggregateType, id, seq) {
      await log.close();
      await flipValueByte(dir, 'events', [aggregateType, id, seq]);
      return (log = LmdbLog.open(dir));
    },
    close: () => log.close(),
  };
}, {
  knownDefects: {},
});
