/**
 * Child process for the durability suite: `node --import tsx test/support/durability-writer.ts <dataDir>`.
 *
 * Runs the runtime with default durability and fires commands without pause across many accounts and
 * `crashy` aggregates (whose `Ok {n: 3}` commands write three events each). After each acknowledged
 * command it prints one line `ack <type> <id> <commandId> <version> <events>`; the parent SIGKILLs this
 * process at some moment and checks that every acknowledged command is in the log, whole.
 * Every command has a unique commandId (run-unique prefix), so a later run on the same dir never collides.
 */
import { randomUUID } from 'node:crypto';
import { builtinDomains, createRuntime, RuntimeError } from '../../src/index.js';
import { crashyDomain } from './crashy-domain.js';

const dataDir = process.argv[2];
if (!dataDir) throw new Error('usage: durability-writer.ts <dataDir>');

const runtime = await createRuntime({ dataDir, partitions: 4, workers: 2, snapshotEvery: 7, domains: [...builtinDomains, crashyDomain] });
const run = randomUUID().slice(0, 8);
const ACCOUNTS = 40;
const IN_FLIGHT = 64;
let n = 0;
const opened = new Set<string>();

function ack(type: string, id: string, commandId: string, version: number, events: number): void {
  // stdout to a pipe is synchronous on Linux: once this returns, the parent can read the line.
  process.stdout.write(`ack ${type} ${id} ${commandId} ${version} ${events}\n`);
}

async function one(): Promise<void> {
  const k = n++;
  const commandId = `${run}-${k}`;
  const useCrashy = k % 3 === 2;
  const id = useCrashy ? `c-${k % 7}` : `acct-${k % ACCOUNTS}`;
  const type = useCrashy ? 'crashy' : 'account';
  // The first command to an account in this run opens it; per-aggregate order keeps it first.
  const opening = !useCrashy && !opened.has(id);
  if (opening) opened.add(id);
  const command = useCrashy ? { type: 'Ok', data: { n: 3 } } : opening ? { type: 'Open', data: { owner: `owner-${k}` } } : { type: 'Deposit', data: { amount: 1 + (k % 97) } };
  try {
    const r = await runtime.execute(type, id, command, { commandId });
    ack(type, id, commandId, r.version, r.events.length);
  } catch (err) {
    // A second run on the same dir finds its accounts open already; anything else is a real failure.
    if (!RuntimeError.is(err, 'AccountAlreadyOpen')) {
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
