/**
 * `scanDatabase` turns errors LMDB throws mid-iteration (a damaged page) into reports: it resumes just
 * after the last key it read, and gives up (reporting that too) when a resumed scan fails before reading
 * anything. Driven by a database double whose iterator throws where a damaged page would.
 */
import type { Database } from 'lmdb';
import { describe, expect, it } from 'vitest';
import { scanDatabase } from '../../../src/log/lmdb/maintenance/scan.js';

/**
 * Keys 0x01..0x09. Reading a key in `damaged` always throws (a damaged page); a key in `once` throws
 * the first time only (e.g. a read transaction reset under the iterator).
 */
function flakyDb(damaged: number[], once: number[] = []): Database<Buffer, Buffer> {
  const failures = [...once];
  return {
    *getRange(options: { start?: Buffer }) {
      const from = options.start ? options.start[0]! + (options.start.length > 1 ? 1 : 0) : 1;
      for (let k = from; k <= 9; k++) {
        const i = failures.indexOf(k);
        if (i >= 0) failures.splice(i, 1);
        if (i >= 0 || damaged.includes(k)) throw new Error('MDB_PAGE_NOTFOUND: Requested page not found');
        yield { key: Buffer.from([k]), value: Buffer.from([k * 10]) };
      }
    },
  } as unknown as Database<Buffer, Buffer>;
}

describe('scanDatabase', () => {
  it('reports an LMDB error, resumes after the last key read, and reads the rest', () => {
    const errors: Array<{ after: string | undefined; gaveUp: boolean }> = [];
    const keys = [...scanDatabase(flakyDb([], [5]), (_err, after, gaveUp) => errors.push({ after: after?.toString('hex'), gaveUp }))].map((e) => e.key[0]);
    expect(errors).toEqual([{ after: '04', gaveUp: false }]);
    expect(keys).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('gives up, and says so, when a resumed scan fails before reading a record', () => {
    const errors: Array<{ after: string | undefined; gaveUp: boolean }> = [];
    const keys = [...scanDatabase(flakyDb([3]), (_err, after, gaveUp) => errors.push({ after: after?.toString('hex'), gaveUp }))].map((e) => e.key[0]);
    expect(keys).toEqual([1, 2]);
    expect(errors).toEqual([
      { after: '02', gaveUp: false },
      { after: '02', gaveUp: true },
    ]);
  });
});
