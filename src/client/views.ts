/** `client.views`: the read models (`/views/...`): one row, a page, every row, rebuild and reconcile. */
import { segment as seg, type CallOptions, type Transport } from './http.js';
import type { RebuildStatus, ReconcileReport, ViewPage, ViewRow, ViewRowAnswer } from './types.js';

export interface ViewGetOptions extends CallOptions {
  /**
   * Read your write: a position (a command answer's `position`, a feed batch's): the server waits until
   * the view has applied every event before it (up to `waitMs`), else answers 503 `ViewLagging`.
   */
  position?: string | undefined;
  /** How long the server waits for `position` (default 5 000 ms, at most 30 000). */
  waitMs?: number | undefined;
}

export interface ViewListOptions extends CallOptions {
  /** Rows after this id (the `next` of the previous page). */
  after?: string | undefined;
  /** Rows per page (1..1000, default 100). */
  limit?: number | undefined;
}

/** The server's own default wait for a position (docs/http-api.md). */
const DEFAULT_WAIT_MS = 5000;

export class ViewsApi {
  readonly #http: Transport;

  constructor(http: Transport) {
    this.#http = http;
  }

  /** One row (404 `NotFound` when the view or the row does not exist). */
  get<R = unknown>(view: string, id: string, options: ViewGetOptions = {}): Promise<ViewRowAnswer<R>> {
    const { position, waitMs, ...call } = options;
    // The server may wait up to `waitMs` for the position: the client's deadline must outlast it.
    const timeoutMs = call.timeoutMs ?? (position !== undefined ? this.#http.deadlineFor(waitMs ?? DEFAULT_WAIT_MS) : undefined);
    return this.#http.json({ method: 'GET', path: `/views/${seg(view)}/${seg(id)}`, query: { position, timeoutMs: waitMs }, ...call, timeoutMs });
  }

  /** A page of rows in id order, with the view's lag per partition. */
  list<R = unknown>(view: string, options: ViewListOptions = {}): Promise<ViewPage<R>> {
    const { after, limit, ...call } = options;
    return this.#http.json({ method: 'GET', path: `/views/${seg(view)}`, query: { after, limit }, ...call });
  }

  /** Every row, in id order, a page (`limit` rows) at a time. */
  async *rows<R = unknown>(view: string, options: ViewListOptions = {}): AsyncGenerator<ViewRow<R>, void, undefined> {
    let after = options.after;
    for (;;) {
      const page = await this.list<R>(view, { ...options, after });
      yield* page.rows;
      if (page.next === undefined) return;
      after = page.next;
    }
  }

  /** Starts a rebuild (202; 409 `RebuildRunning` while one runs); follow it with `rebuildStatus`. Needs the admin scope. */
  rebuild(view: string, options: CallOptions = {}): Promise<RebuildStatus> {
    return this.#http.json({ method: 'POST', path: `/views/${seg(view)}/rebuild`, ...options });
  }

  rebuildStatus(view: string, options: CallOptions = {}): Promise<RebuildStatus> {
    return this.#http.json({ method: 'GET', path: `/views/${seg(view)}/rebuild`, ...options });
  }

  /** Compares the view with a fresh fold of the log; `repair` rewrites drifted rows. Needs the admin scope. */
  reconcile(view: string, options: CallOptions & { repair?: boolean; max?: number } = {}): Promise<ReconcileReport> {
    const { repair, max, ...call } = options;
    return this.#http.json({ method: 'POST', path: `/views/${seg(view)}/reconcile`, query: { repair, max }, ...call });
  }
}
