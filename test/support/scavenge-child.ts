/**
 * Child process for the scavenge's kill -9 test:
 *
 *   node --import tsx test/support/scavenge-child.ts <dataDir> <budget>
 *
 * Opens a runtime (meters, snapshots every 10), prints `scavenging`, runs one pass in steps of `budget`
 * removals, prints `done <events>` and closes. The test kills it somewhere in between.
 */
import { createRuntime } from '../../src/index.js';
import { builtinDomains } from '../../src/runtime/index.js';
import { meterDomain } from './meter-domain.js';

const [dataDir, budget = '8'] = process.argv.slice(2);
if (!dataDir) throw new Error('usage: scavenge-child.ts <dataDir> <budget>');
const runtime = await createRuntime({ dataDir, partitions: 4, workers: 1, domains: [...builtinDomains, meterDomain], snapshotEvery: 10, scavengeEveryMs: 0 });
process.stdout.write('scavenging\n');
const report = await runtime.scavenge({ budget: Number(budget) });
process.stdout.write(`done ${report.events}\n`);
await runtime.close();
