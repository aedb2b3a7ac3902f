/**
 * Child process for the supervision suite: `node --import tsx test/support/crash-mid-batch.ts <dataDir>`.
 *
 * Sends one large batch (2 000 multi-event commands, then a `Crash`) to a single actor worker, so the
 * worker dies in the middle of a drain whose writes are already queued in LMDB. Prints one line per
 * milestone: `settled <outcomes>`, `restarted`, `after <outcome>`, `closed`. Run in a child process
 * because a runtime that hangs here would otherwise hang the test runner too.
 */
import { builtinDomains, createRuntime, RuntimeError } from '../../src/index.js';
import { crashyDomain } from './crashy-domain.js';

const dataDir = process.argv[2];
if (!dataDir) throw new Error('usage: crash-mid-batch.ts <dataDir>');

let restarted!: () => void;
const restart = new Promise<void>((resolve) => (restarted = resolve));
const runtime = await createRuntime({ dataDir, partitions: 4, workers: 1, domains: [...builtinDomains, crashyDomain], onWorkerRestart: () => restarted() });
const outcome = (r: PromiseSettledResult<unknown>): string => (r.status === 'fulfilled' ? 'ok' : RuntimeError.is(r.reason) ? r.reason.code : String(r.reason));

const ids = Array.from({ length: 2000 }, (_, i) => `wide-${i}`);
const settled = await Promise.allSettled([...ids.map((id) => runtime.execute('crashy', id, { type: 'Ok', data: { n: 5 } })), runtime.execute('crashy', 'wide-0', { type: 'Crash', data: {} })]);
process.stdout.write(`settled ${[...new Set(settled.map(outcome))].join(',')}\n`);
await restart;
process.stdout.write('restarted\n');
const after = await Promise.allSettled(ids.slice(0, 20).map((id) => runtime.execute('crashy', id, { type: 'Ok', data: { n: 1 } })));
process.stdout.write(`after ${[...new Set(after.map(outcome))].join(',')}\n`);
await runtime.close();
process.stdout.write('closed\n');
