/**
 * Child process driven line by line over stdin, for tests of who may write a data dir:
 *
 *   node --import tsx test/support/runtime-child.ts <dataDir> [workers]
 *
 * Opens a runtime and prints `opened`, or `error <code> <message>` and exits. Then, per stdin line:
 *   `deposit <id> <amount> <commandId>` -> `ok <commandId> <version>` | `error <commandId> <code>`
 *   `close` -> closes the runtime, prints `closed`, exits.
 * Accounts are opened on their first deposit.
 */
import { createInterface } from 'node:readline';
import { createRuntime, RuntimeError } from '../../src/index.js';

const [dataDir, workers = '1'] = process.argv.slice(2);
if (!dataDir) throw new Error('usage: runtime-child.ts <dataDir> [workers]');
let runtime;
try {
  runtime = await createRuntime({ dataDir, workers: Number(workers), partitions: 4 });
} catch (err) {
  process.stdout.write(`error ${RuntimeError.is(err) ? `${err.code} ${err.message}` : String(err)}\n`);
  process.exit(0);
}
process.stdout.write('opened\n');
const rt = runtime;
const opened = new Set<string>();
for await (const line of createInterface({ input: process.stdin })) {
  const [verb, id, amount, commandId] = line.trim().split(' ');
  if (verb === 'close') {
    await rt.close();
    process.stdout.write('closed\n');
    process.exit(0);
  }
  if (verb !== 'deposit' || !id || !amount || !commandId) continue;
  try {
    if (!opened.has(id)) {
      await rt.execute('account', id, { type: 'Open', data: { owner: id } }, { commandId: `open-${id}` }).catch((e: unknown) => {
        if (!RuntimeError.is(e, 'AccountAlreadyOpen')) throw e;
      });
      opened.add(id);
    }
    const r = await rt.execute('account', id, { type: 'Deposit', data: { amount: Number(amount) } }, { commandId });
    process.stdout.write(`ok ${commandId} ${r.version}\n`);
  } catch (err) {
    process.stdout.write(`error ${commandId} ${RuntimeError.is(err) ? err.code : String(err)}\n`);
  }
}
