/**
 * Writes event pages (log/lmdb/pages.ts: EVENT_PAGE consecutive events of a stream in one
 * record) for the streams of this worker, so that hydrating a long stream folds whole pages.
 *
 * Why after the fact: a page must never hold an event the log does not (a page is derived data, like a
 * snapshot). When a drain stages the event that completes a page, the earlier events of that page may
 * still be in a batch that is not durable (drains are pipelined), so the page is only noted here; a
 * later drain, once the noting drain is durable, reads the page's events back from the log and stages
 * the page into its own transaction. A page lost in a crash (or never written) only means hydration
 * reads those events one by one.
 */
import type { EventEnvelope } from '../kernel/index.js';
import { EVENT_PAGE, type BatchWriter, type LogReader, type Staged } from '../log/index.js';
import { storedReads } from './versioned-log.js';

interface PendingPage {
  aggregateType: string;
  id: string;
  first: number;
  /** The drain that staged the page's last event: the page may be written once that drain is durable. */
  drain: number;
}

/** Pages waiting for their drain; past this, the oldest are dropped (derived data: only speed is lost). */
const MAX_PENDING = 100_000;

export class PageWriter {
  #pending: PendingPage[] = [];

  get pending(): number {
    return this.#pending.length;
  }

  /** Notes the pages a command's events complete. */
  note(events: readonly EventEnvelope[], drain: number): void {
    for (const e of events) {
      if (e.seq % EVENT_PAGE !== 0) continue;
      if (this.#pending.length >= MAX_PENDING) this.#pending.shift();
      this.#pending.push({ aggregateType: e.aggregateType, id: e.stream, first: e.seq - EVENT_PAGE + 1, drain });
    }
  }

  /** Stages (at most `max`) pages whose drain is durable, reading their events back from the log. */
  stageDurable(log: LogReader, writer: BatchWriter, durableDrain: number, max = 512): Staged[] {
    const pending = this.#pending;
    if (pending.length === 0 || pending[0]!.drain > durableDrain) return [];
    log.refreshReads(); // see the commits of those drains
    // A page holds the events as stored (their schema versions too), never as this build decodes them.
    const stored = storedReads(log);
    const out: Staged[] = [];
    let i = 0;
    for (; i < pending.length && out.length < max; i++) {
      const p = pending[i]!;
      if (p.drain > durableDrain) break;
      // Derived data: a page that cannot be read back whole (a damaged event, which stops its
      // partition where it matters) is skipped, never allowed to fail the drain that carries it.
      try {
        const events = stored.readStream(p.aggregateType, p.id, p.first, EVENT_PAGE);
        if (events.length === EVENT_PAGE) out.push(writer.stagePage(events));
      } catch {
        // skipped: hydration reads those events one by one (and meets the damage itself)
      }
    }
    pending.splice(0, i);
    return out;
  }
}
