/**
 * Event pages: the `pages` database (see environment.ts): EVENT_PAGE consecutive events of one stream
 * in one record, keyed by the stream and the page's first seq. Derived data, like a snapshot: a page is
 * written once its events are durable (runtime/page-writer.ts decides when) and never rewritten;
 * hydration folds it in one step (`StreamStore.foldStream`, streams.ts), and a page that is missing only
 * means its events are read one by one.
 *
 * Gotchas: a page's elements are stored events (stored-event.ts); changing EVENT_PAGE moves the page
 * boundaries, so pages already written would no longer be found where a fold looks for them.
 */
import { ErrorCodes, RuntimeError, type EventEnvelope } from '../../kernel/index.js';
import { encodeRecord } from '../record-codec.js';
import { toStored, type StreamRef } from '../stored-event.js';
import type { LmdbEnvironment, LogDb } from './environment.js';
import type { StagedWrite } from './write-chain.js';
import { EVENT_PAGE } from '../event-page.js';
import { StoredPageBuilder } from '../stored-page.js';

export class PageStore {
  readonly #env: LmdbEnvironment;
  readonly #pages: LogDb;
  readonly #events: LogDb;

  constructor(env: LmdbEnvironment) {
    this.#env = env;
    this.#pages = env.pages;
    this.#events = env.events;
  }

  /** The port's `stageStoredPage`: the page copied from the stored event records (../stored-page.ts). */
  stageStoredPage(aggregateType: string, id: string, first: number): StagedWrite | null {
    const page = new StoredPageBuilder(aggregateType, id, first);
    try {
      // snapshot: false, as every stream read (streams.ts): a range that meets damage must not pin the read transaction.
      for (const { key, value } of this.#events.getRange({ start: [aggregateType, id, first], end: [aggregateType, id, first + EVENT_PAGE], snapshot: false })) {
        const seq = (key as StreamRef)[2];
        // No event at the page's first seq: a scavenged prefix (or nothing yet), not damage.
        if (seq !== first && page.next === first) return null;
        page.add(seq, value);
      }
    } catch (err) {
      throw this.#env.damaged(err, `stream ${aggregateType}/${id}`);
    }
    if (!page.complete) return null;
    const key: StreamRef = [aggregateType, id, first];
    return { puts: [[this.#pages, key, page.record()]] };
  }

  /**
   * A page of EVENT_PAGE consecutive events of one stream, starting at a page boundary. Only for events
   * already durable (pages are derived: a page must never hold an event the log does not).
   */
  stagePage(events: readonly EventEnvelope[]): StagedWrite {
    const first = events[0];
    const contiguous = first !== undefined && events.every((e, i) => e.seq === first.seq + i && e.stream === first.stream && e.aggregateType === first.aggregateType);
    if (!first || events.length !== EVENT_PAGE || (first.seq - 1) % EVENT_PAGE !== 0 || !contiguous) {
      throw new RuntimeError(ErrorCodes.Internal, `a page is ${EVENT_PAGE} consecutive events of one stream from seq k*${EVENT_PAGE}+1`);
    }
    const page = events.map(toStored);
    const key: StreamRef = [first.aggregateType, first.stream, first.seq];
    return { puts: [[this.#pages, key, encodeRecord(page, 'pages', key)]] };
  }
}
