/**
 * Seeded, settled data dirs shared by suites: the 10 000-account log several suites load is made once
 * per run (seed + views caught up) and copied for each user, so each suite starts from the same bytes
 * without paying the seeding and the projection catch-up again. Copies are plain file copies of a
 * closed LMDB environment.
 */
import { cpSync } from 'node:fs';
import { seedAndSettle } from './runtime.js';
import { accounts } from './seed.js';
import { makeTempDir } from './tmp.js';

let accounts10k: string | null = null;

/** A fresh copy of a data dir holding `acct-0 .. acct-9999` (one AccountOpened each), views current. */
export async function tenThousandAccounts(label: string): Promise<string> {
  if (!accounts10k) {
    const template = makeTempDir('fixture-accounts');
    await seedAndSettle(template, accounts('acct-', 10_000, 1), { snapshotEvery: 100 });
    accounts10k = template;
  }
  const dir = makeTempDir(label);
  cpSync(accounts10k, dir, { recursive: true });
  return dir;
}
