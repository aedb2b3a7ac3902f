/**
 * `meter-last`: meter id -> its last reading and that reading's seq. Its rows depend only on a stream's
 * newest events, so it declares `followsRetention`: the scavenge may remove older meter events, and a
 * rebuild from what is left gives the same rows.
 */
import type { Projection } from '../../src/projections/index.js';

export interface MeterLastRow {
  last: number;
  seq: number;
}

export const meterLastView: Projection<MeterLastRow> = {
  name: 'meter-last',
  aggregateTypes: ['meter'],
  followsRetention: true,
  apply(row, e) {
    if (row && e.seq <= row.seq) return row;
    return { last: (e.data as { value: number }).value, seq: e.seq };
  },
};

export const meterLastViewModule = new URL('./meter-last-view.ts', import.meta.url);

export default meterLastView;
