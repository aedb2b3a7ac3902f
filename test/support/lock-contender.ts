/**
 * Child process: `node --import tsx test/support/lock-contender.ts <dataDir>` takes the data-dir lock
 * (and nothing else), prints `locked` or `error <code>`, then holds the lock until stdin closes.
 */
import { lockDataDir } from '../../src/log/index.js';
import { RuntimeError } from '../../src/kernel/index.js';

const dataDir = process.argv[2];
if (!dataDir) throw new Error('usage: lock-contender.ts <dataDir>');
try {
  const lock = lockDataDir(dataDir, 'lock-contender');
  process.stdout.write('locked\n');
  process.stdin.resume();
  process.stdin.on('end', () => {
    lock.release();
    process.exit(0);
  });
} catch (err) {
  process.stdout.write(`error ${RuntimeError.is(err) ? err.code : String(err)}\n`);
}
