/**
 * Child process for the crash test of `forget` (test/runtime/forget-crash.e2e.test.ts):
 *
 *   node --import tsx test/support/forget-child.ts <dataDir>
 *
 * Opens a runtime on <dataDir>, opens account `acc-k` (owner KESTREL) with three deposits of 100, then
 * does the first step of `runtime.forget('acc-k')` exactly as the runtime does it (the key store's
 * `forget`: the key replaced by its tombstone, scrubbed), prints `key-deleted`, and waits to be killed
 * before the audit record is appended.
 */
import { createRuntime } from '../../src/index.js';
import { LmdbSubjectKeys } from '../../src/log/index.js';

const KESTREL = 'Kestrel Umbridgeworth-5150';

const [dataDir] = process.argv.slice(2);
if (!dataDir) throw new Error('usage: forget-child.ts <dataDir>');
const runtime = await createRuntime({ dataDir, workers: 1, partitions: 4, snapshotEvery: 2 });
await runtime.execute('account', 'acc-k', { type: 'Open', data: { owner: KESTREL } });
for (let i = 0; i < 3; i++) await runtime.execute('account', 'acc-k', { type: 'Deposit', data: { amount: 100 } });
const keys = new LmdbSubjectKeys(dataDir);
await keys.forget('acc-k', { commandId: 'forget-crash-1', by: 'ops' });
process.stdout.write('key-deleted\n');
setInterval(() => undefined, 1000);
