/**
 * Writes event pages (log/lmdb/pages.ts: EVENT_PAGE consecutive events of a stream in one
 * record) for the streams of this worker, so that hydrating a long stream folds whole pages.
 *
 * Why after the fact: a page must never hold an event the log does not (a page is derived data, like a
 * snapshot). When a drain stages the event that completes a page, the earlier events of that page may
 * still be in a batch that is not durable (drains are pipelined), so the page is only noted here; a
 * later drain, once the noting drain is durable, copies the page's stored events (`stageStoredPage`)
 * into its own transaction. A page lost in a crash (or never written) only means hydration
 * reads those events one by one.
 *
 * Why a budget per drain: pages complete in waves. Streams written at the same pace cross a page
 * boundary together (the bench's round-robin over 10k accounts completes 10k pages within a fraction of
 * a second), and each page costs its copy (45-50 us) and a share of the commit (+0.1-0.3 ms on a small
 * one). A fixed 512 pages per drain (each then read back and encoded: 130-170 us) put ~90 ms of pages
 * and a ~100 ms commit in front of the few commands of each small drain after such a wave: a 200-300 ms
 * stall at 1 000 cmd/s (bench/README, "Page waves"). A drain now carries at most twice the pages its own
 * events complete on average (events / EVENT_PAGE), at least one: a wave is spread over the drains
 * after it in proportion to their size, and the backlog still shrinks under any load.
 */
import type { EventEnvelope } from '../kernel/index.js';
import { EVENT_PAGE, type BatchWriter, type LogReader, type Staged } from '../log/index.js';

interface PendingPage {
  aggregateType: string;
  id: string;
  first: number;
  /** The drain that staged the page's last event: the page may be written once that drain is durable. */
  drain: number;
}

/** Pages waiting for their drain; past this, the oldest are dropped (derived data: only speed is lost). */
const MAX_PENDING = 100_000;
/** Pages a drain may carry whatever its size: one (a small drain's commit grows by ~0.3-0.5 ms per page). */
const PAGES_PER_DRAIN_MIN = 1;

export class PageWriter {
  #pending: PendingPage[] = [];
  /** Events noted since the last `stageDurable`: the size of the drain that is about to carry pages. */
  #eventsNoted = 0;

  get pending(): number {
    return this.#pending.length;
  }

  /** Notes the pages a command's events complete. */
  note(events: readonly EventEnvelope[], drain: number): void {
    this.#eventsNoted += events.length;
    for (const e of events) {
      if (e.seq % EVENT_PAGE !== 0) continue;
      if (this.#pending.length >= MAX_PENDING) this.#pending.shift();
      this.#pending.push({ aggregateType: e.aggregateType, id: e.stream, first: e.seq - EVENT_PAGE + 1, drain });
    }
  }

  /** The pages the drain being staged may carry (see the header): twice its events' share, at least one. */
  get budget(): number {
    return Math.max(PAGES_PER_DRAIN_MIN, Math.ceil((2 * this.#eventsNoted) / EVENT_PAGE));
  }

  /**
   * Stages (at most `max`: by default the budget of the drain whose events were noted since the last
   * call) pages whose drain is durable, copied from the stored events.
   */
  stageDurable(log: LogReader, writer: BatchWriter, durableDrain: number, max = this.budget): Staged[] {
    this.#eventsNoted = 0;
    const pending = this.#pending;
    if (pending.length === 0 || pending[0]!.drain > durableDrain) return [];
    log.refreshReads(); // see the commits of those drains
    const out: Staged[] = [];
    let i = 0;
    for (; i < pending.length && out.length < max; i++) {
      const p = pending[i]!;
      if (p.drain > durableDrain) break;
      // Copied from the events as stored (their schema versions too), never from what this build decodes
      // them into (versioned-log.ts, Gotchas). Derived data: a page that cannot be built whole (a damaged
      // event, which stops its partition where it matters) is skipped, never allowed to fail the drain.
      try {
        const page = writer.stageStoredPage(p.aggregateType, p.id, p.first);
        if (page !== null) out.push(page);
      } catch {
        // skipped: hydration reads those events one by one (and meets the damage itself)
      }
    }
    pending.splice(0, i);
    return out;
  }
}
