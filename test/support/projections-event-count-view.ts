/**
 * A test-only view, `event-counts`: account id -> { events, lastSeq }. Unlike the built-in views it has
 * NO seq guard: every event it is handed adds one. So it is a probe of the engine itself: if the engine
 * ever applied an event twice (rows committed without their checkpoint, or a replay after a crash), the
 * row's `events` would exceed `lastSeq`. Loaded by worker threads through the projection engine's
 * options: `withViews([...builtinViews, eventCountView])` (projections-runtime.ts).
 */
import type { Projection } from '../../src/projections/index.js';

export interface EventCountRow {
  events: number;
  lastSeq: number;
}

export const eventCountProjection: Projection<EventCountRow> = {
  name: 'event-counts',
  aggregateTypes: ['account'],
  apply: (row, e) => ({ events: (row?.events ?? 0) + 1, lastSeq: e.seq }),
};

export const eventCountView = new URL('./projections-event-count-view.ts', import.meta.url);

export default eventCountProjection;
