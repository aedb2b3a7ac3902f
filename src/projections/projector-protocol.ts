/** Messages between the projection engine's worker side and its main-thread side (views.ts). */
import type { SerializedError } from '../kernel/index.js';

export type ProjectorRequest =
  | { op: 'status' }
  | { op: 'build'; view: string; generation: number }
  | { op: 'retire'; view: string; generation: number }
  | { op: 'reconcile'; view: string; generation: number; repair: boolean; maxMismatches: number }
  /** A data subject was forgotten: rows of views with personal fields drop it from their caches, and its owner rewrites its row redacted. */
  | { op: 'redact'; subject: string };

export type ProjectorEvent =
  | { type: 'progress'; view: string; generation: number; partition: number; checkpoint: number }
  | { type: 'failed'; view: string; generation: number; partition: number; error: SerializedError };

export interface ProjectorStatus {
  worker: number;
  targets: { view: string; generation: number; failed: string | null; checkpoints: Record<number, number> }[];
  heads: Record<number, number>;
}
