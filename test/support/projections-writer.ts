/**
 * Child process for the views crash suite:
 * `node --import tsx test/support/projections-writer.ts <dataDir> [rebuildAfterAcks]`.
 *
 * Runs the runtime with the built-in views plus the guard-less `event-counts` probe, and fires account
 * commands without pause (opens, deposits, and withdrawals that overdraw and are rejected) while the
 * projection engine keeps folding them into the views. After each acknowledged command it prints one line
 * `ack <id> <version>`; the parent SIGKILLs this process at some moment and then checks that the views
 * it reopens equal a fresh fold of the log (exactly-once effect, nothing acknowledged missing).
 *
 * With `rebuildAfterAcks`, once that many commands were acknowledged it also starts a rebuild of the
 * `balances` and `event-counts` views (a catch-up of a fresh generation from offset 0 while commands keep
 * flowing) and prints `rebuilding` when the rebuild is under way, so the parent can kill it mid-rebuild.
 */
import { builtinDomains, builtinViews, createEventide, RuntimeError } from '../../src/index.js';
import { eventCountView } from './projections-event-count-view.js';

const WRITER_PARTITIONS = 4;
const WRITER_ACCOUNTS = 24;

const dataDir = process.argv[2];
if (!dataDir) throw new Error('usage: projections-writer.ts <dataDir> [rebuildAfterAcks]');
const rebuildAfter = process.argv[3] === undefined ? Infinity : Number(process.argv[3]);

const { runtime, views } = await createEventide({
  dataDir,
  partitions: WRITER_PARTITIONS,
  workers: 2,
  durability: 'commit',
  snapshotEvery: 16,
  domains: builtinDomains,
  views: [...builtinViews, eventCountView],
});
const IN_FLIGHT = 48;
let n = 0;
let acks = 0;
const opened = new Set<string>();

async function startRebuild(): Promise<void> {
  let announced = false;
  views.onRebuildProgress((s) => {
    if (s.state === 'building' && !announced) {
      announced = true;
      process.stdout.write('rebuilding\n');
    }
  });
  await Promise.all([views.rebuild('balances'), views.rebuild('event-counts')]);
  process.stdout.write('rebuilt\n');
}

async function one(): Promise<void> {
  const k = n++;
  const id = `acct-${k % WRITER_ACCOUNTS}`;
  const opening = !opened.has(id);
  if (opening) opened.add(id);
  const command = opening
    ? { type: 'Open', data: { owner: `owner-${k % WRITER_ACCOUNTS}` } }
    : k % 11 === 0
      ? { type: 'Withdraw', data: { amount: Number.MAX_SAFE_INTEGER } }
      : { type: 'Deposit', data: { amount: 1 + (k % 97) } };
  try {
    const r = await runtime.execute('account', id, command);
    // stdout to a pipe is synchronous on Linux: once this returns, the parent can read the line.
    process.stdout.write(`ack ${id} ${r.version}\n`);
    if (++acks === rebuildAfter) {
      startRebuild().catch((err: unknown) => {
        process.stderr.write(`rebuild failed: ${String(err)}\n`);
        process.exit(3);
      });
    }
  } catch (err) {
    // A later run on the same dir finds its accounts open already; overdrafts are rejected on purpose.
    if (!RuntimeError.is(err, 'AccountAlreadyOpen') && !RuntimeError.is(err, 'InsufficientFunds')) {
      process.stderr.write(`failed: ${String(err)}\n`);
      process.exit(2);
    }
  }
}

async function lane(): Promise<void> {
  for (;;) await one();
}

process.stdout.write('ready\n');
await Promise.all(Array.from({ length: IN_FLIGHT }, lane));
