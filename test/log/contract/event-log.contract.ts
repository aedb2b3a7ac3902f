/**
 * The one contract of the log port (src/log/port.ts), for every adapter: `describeEventLogContract`
 * runs each behaviour the port promises against a log the adapter's test file opens, through port
 * methods only. An adapter is done when it passes this suite (LMDB: lmdb.contract.int.test.ts; memory:
 * memory.contract.unit.test.ts); a new one (JetStream) adds a file like those and nothing else.
 *
 * What each part covers:
 * - appends.contract.ts: positions assigned at staging, commit answers, stream / event / partition /
 *   stream-id / time reads, read-your-writes, copies, data the log cannot hold, writer heads.
 * - writes.contract.ts: command ids and digests, atomic multi-stream batches, owner epochs and fencing,
 *   the write-chain rule after a refused batch, probeWrite, appends that never overwrite.
 * - derived.contract.ts: snapshots (at or below, newest first, removal) and folds with pages.
 * - views.contract.ts: the view store, alone and joined to a log batch.
 * - storage.contract.ts: persistence across reopen and damage detection, for adapters that can show them.
 * - scavenge.contract.ts: removal of a stream's prefix and a partition's front, reads after them (an
 *   adapter that cannot scavenge names both cases as unsupported).
 * - retention.contract.ts: retention settings per stream and per type (an adapter that refuses them by
 *   design lists the case in its `unsupported` option, with the reason).
 *
 * Behaviours of one adapter that the port does not promise (LMDB's index runs, its data-dir checks,
 * its damage of keys and pages) stay in that adapter's own tests.
 */
import { describe, expect, it } from 'vitest';
import { appendsContract } from './appends.contract.js';
import { contractOf, type ContractOptions, type OpenAdapter } from './contract-support.js';
import { derivedContract } from './derived.contract.js';
import { retentionContract } from './retention.contract.js';
import { scavengeContract } from './scavenge.contract.js';
import { storageContract } from './storage.contract.js';
import { viewsContract } from './views.contract.js';
import { writesContract } from './writes.contract.js';

export type { AdapterUnderTest, ContractOptions, OpenAdapter } from './contract-support.js';

export function describeEventLogContract(name: string, open: OpenAdapter, options: ContractOptions = {}): void {
  describe(`the log port contract: ${name}`, () => {
    const contract = contractOf(open, options);
    appendsContract(contract);
    writesContract(contract);
    derivedContract(contract);
    viewsContract(contract);
    storageContract(contract);
    retentionContract(contract);
    scavengeContract(contract);
    it('lists as known defects only cases that exist (a renamed case must not hide a failure)', () => {
      expect(contract.unmatchedDefects()).toEqual([]);
    });
  });
}
