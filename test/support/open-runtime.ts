/**
 * Child process: `node --import tsx test/support/open-runtime.ts <dataDir>` tries to open a runtime on
 * the data dir and prints `opened` (then closes it) or `error <code>`. Used to prove that a data dir
 * has one writer process at a time.
 */
import { createRuntime, RuntimeError } from '../../src/index.js';

const dataDir = process.argv[2];
if (!dataDir) throw new Error('usage: open-runtime.ts <dataDir>');
try {
  const runtime = await createRuntime({ dataDir, workers: 1 });
  process.stdout.write('opened\n');
  await runtime.close();
} catch (err) {
  process.stdout.write(`error ${RuntimeError.is(err) ? err.code : String(err)}\n`);
}
