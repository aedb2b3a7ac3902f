/** The README's embedded example, runnable: `node --import tsx examples/bank.ts [dataDir]`. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRuntime, RuntimeError } from '../src/index.js';

const dataDir = process.argv[2] ?? mkdtempSync(join(tmpdir(), 'eventide-bank-'));
const runtime = await createRuntime({ dataDir, partitions: 16, workers: 2 });
try {
  await runtime.execute('account', 'acc-1', { type: 'Open', data: { owner: 'Ada' } });
  const r = await runtime.execute('account', 'acc-1', { type: 'Deposit', data: { amount: 500 } }, { commandId: 'dep-1' });
  console.log(r.version, r.state);
  try {
    await runtime.execute('account', 'acc-1', { type: 'Withdraw', data: { amount: 900 } });
  } catch (e) {
    if (!RuntimeError.is(e)) throw e;
    console.log(e.code, e.details);
  }
  console.log(await runtime.load('account', 'acc-1'));
  console.log(await runtime.load('account', 'acc-1', { version: 1 }));
  console.log((await runtime.history('account', 'acc-1')).map((e) => `${e.seq} ${e.type} ${JSON.stringify(e.data)}`));
} finally {
  await runtime.close();
  if (!process.argv[2]) rmSync(dataDir, { recursive: true, force: true });
}
