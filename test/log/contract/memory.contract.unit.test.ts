/** The log port contract against the memory adapter (src/log/memory/): nothing persists, nothing to damage. */
import { openMemoryLog } from '../../../src/log/index.js';
import { describeEventLogContract } from './event-log.contract.js';

describeEventLogContract('MemoryLog', async ({ partitions }) => {
  const log = openMemoryLog({ partitions });
  return { log, close: () => log.close() };
});
