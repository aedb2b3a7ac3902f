/**
 * `videos`: video id -> { status, progress, renditions, attempt, error, version }.
 *
 * The status never moves backwards, even if events reached the view out of order: an event is applied
 * only if its seq is newer than the row's, and a status change within one attempt only moves forward
 * (UPLOADED < PROCESSING < SUCCEEDED | FAILED | CANCELLED). This is the seeds' ordering bug ("a slow
 * worker overwrites a newer status"), ruled out in the read model as well as in the decider.
 */
import { videoDecider, type VideoState, type VideoStatus } from '../../domain/index.js';
import type { Projection } from '../types.js';

export interface VideoRow {
  status: VideoStatus;
  progress: number;
  attempt: number;
  renditions: { height: number; bytes: number }[];
  thumbnail: boolean;
  error: { reason: string; retriable: boolean } | null;
  bytes: number;
  version: number;
  updatedAt: number;
  /** The decider's state, kept so the next event folds exactly as the aggregate does. */
  state: VideoState;
}

const RANK: Record<VideoStatus, number> = { NEW: 0, UPLOADED: 1, PROCESSING: 2, SUCCEEDED: 3, FAILED: 3, CANCELLED: 3 };

export function statusMovesForward(from: VideoState, to: VideoState): boolean {
  return to.attempt > from.attempt || RANK[to.status] >= RANK[from.status];
}

export const videosView: Projection<VideoRow> = {
  name: 'videos',
  aggregateTypes: ['video'],
  apply(row, e) {
    if (row && e.seq <= row.version) return row;
    const before = row?.state ?? videoDecider.initialState();
    const state = videoDecider.evolve(before, e as never);
    if (row && !statusMovesForward(before, state)) return { ...row, version: e.seq };
    return {
      status: state.status,
      progress: state.progress,
      attempt: state.attempt,
      renditions: state.renditions.map((r) => ({ height: r.height, bytes: r.bytes })),
      thumbnail: state.thumbnail !== null,
      error: state.error ? { reason: state.error.reason, retriable: state.error.retriable } : null,
      bytes: state.source?.bytes ?? 0,
      version: e.seq,
      updatedAt: e.ts,
      state,
    };
  },
};

export default videosView;
