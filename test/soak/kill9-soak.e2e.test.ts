/**
 * Issue 10's kill -9 soak, shortened for CI: the same code as `npm run soak` (scripts/soak/run.ts) with
 * 12 cycles. The real server runs as a child process (`src/server/main.ts`), 8 writers deposit over HTTP,
 * the server is SIGKILLed at a random moment with requests in flight and restarted at once on the same
 * data dir; after every restart every acknowledged write must be in the log exactly once, and every
 * write whose answer was lost must, when sent again with its commandId, be applied exactly once.
 * The check itself is shown able to fail in ledger.int.test.ts. The 100-cycle run is in the README.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_SOAK_OPTIONS, formatSoakResult, runSoak } from '../../scripts/soak/run.js';

describe('kill -9 soak (writers over HTTP, server SIGKILLed and restarted)', () => {
  it('loses and duplicates nothing over 12 kill -9 cycles, and resolves every unknown write exactly once', async () => {
    const result = await runSoak({
      ...DEFAULT_SOAK_OPTIONS,
      cycles: 12,
      writers: 8,
      accounts: 40,
      killMinMs: 100,
      killMaxMs: 800,
      fullCheckEvery: 4,
      partitions: 4,
      workers: 2,
      seed: 10,
    });
    const summary = formatSoakResult(result);
    expect(result.aborted, summary).toBeUndefined();
    expect(result.cyclesDone, summary).toBe(12);
    expect(result.restarts.total, summary).toBe(12);
    expect(result.lost, summary).toBe(0);
    expect(result.duplicated, summary).toBe(0);
    expect(result.violations, summary).toEqual([]);
    expect(result.unexpectedExits, summary).toBe(0);
    // Kills land with requests in flight, so some answers are lost; each such write was sent again and
    // acknowledged (as applied before the kill, or applied by the retry), and the log check passed.
    expect(result.writes.unknown, summary).toBeGreaterThan(0);
    expect(result.writes.unresolved, summary).toBe(0);
    expect(result.writes.unknownFoundApplied + result.writes.unknownAppliedOnRetry, summary).toBe(result.writes.unknown);
    // Every acknowledged deposit (and the 40 opens) is an event: nothing more, nothing less.
    expect(result.writes.eventsInLog, summary).toBe(result.writes.acked + 40);
    expect(result.finalExit, summary).toBe('0');
    expect(result.ok, summary).toBe(true);
  }, 300_000);
});
