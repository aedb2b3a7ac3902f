/**
 * An in-memory index of every video's status, for `GET /videos?status=` and the counts on a dashboard.
 * It is derived data (DESIGN invariant 5): filled by the reactor's start-up scan of the log and kept
 * current by the committed events, so a restart rebuilds it and it can never disagree with the log for
 * long. Every video event implies a status (the decider's own `STATUS_AFTER` table), so the index needs no
 * state but the last seq it applied.
 *
 * Gotchas: the scan and the live events race at start-up; an entry only moves forward in seq, so an
 * older scan result never overwrites a newer event.
 */
import { STATUS_AFTER, type VideoStatus } from '../domain/index.js';
import type { EventEnvelope } from '../kernel/index.js';

export interface ListQuery {
  status?: VideoStatus;
  /** Only ids after this one (ids sort by upload time). */
  after?: string;
  limit: number;
}

export class VideoStatusIndex {
  #entries = new Map<string, { status: VideoStatus; version: number }>();

  apply(event: EventEnvelope): void {
    const status = STATUS_AFTER[event.type as keyof typeof STATUS_AFTER] as VideoStatus | undefined;
    if (status) this.set(event.stream, status, event.seq);
  }

  set(id: string, status: VideoStatus, version: number): void {
    const cur = this.#entries.get(id);
    if (!cur || version > cur.version) this.#entries.set(id, { status, version });
  }

  statusOf(id: string): VideoStatus | undefined {
    return this.#entries.get(id)?.status;
  }

  /** A page of ids in id order, and whether more follow. */
  list(q: ListQuery): { ids: string[]; more: boolean } {
    const ids: string[] = [];
    for (const [id, e] of this.#entries) {
      if ((q.status === undefined || e.status === q.status) && (q.after === undefined || id > q.after)) ids.push(id);
    }
    ids.sort();
    return { ids: ids.slice(0, q.limit), more: ids.length > q.limit };
  }

  counts(): Record<VideoStatus, number> {
    const c: Record<VideoStatus, number> = { NEW: 0, UPLOADED: 0, PROCESSING: 0, SUCCEEDED: 0, FAILED: 0, CANCELLED: 0 };
    for (const e of this.#entries.values()) c[e.status]++;
    return c;
  }
}
