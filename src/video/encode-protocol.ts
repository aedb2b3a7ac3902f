/**
 * The only shapes that cross between the reactor (main thread) and an encode task (pool thread).
 *
 * Gotchas: a task's MessagePort and piscina's own result channel are different ports, and Node keeps no
 * order across ports: a `rendition` message may arrive after the task's result. So the result repeats
 * every rendition, and the reactor records from the result (CompleteRendition is idempotent per height).
 */
import type { MessagePort } from 'node:worker_threads';
import type { Rendition } from '../domain/index.js';
import type { FfmpegBinaries } from './ffmpeg-binaries.js';
import type { EncodeSettings } from './media-policy.js';

/** Everything one encode attempt needs; built by the reactor from the log, never from a request. */
export interface EncodeJobInput {
  videoId: string;
  attempt: number;
  /** Absolute data dir; every path below is resolved inside it by `VideoStorage`. */
  dataDir: string;
  /** The source's stored (relative) path, as recorded in `VideoUploaded`. */
  sourcePath: string;
  settings: EncodeSettings;
  binaries: FfmpegBinaries;
  probeTimeoutMs: number;
}

export type EncodeOutcome =
  | { kind: 'succeeded'; renditions: Rendition[]; thumbnail: string | null }
  | { kind: 'failed'; reason: string; retriable: boolean }
  | { kind: 'cancelled' };

/** Pool thread -> reactor, during a task. */
export type EncodeTaskMessage = { kind: 'progress'; percent: number } | { kind: 'rendition'; rendition: Rendition };

/** Reactor -> pool thread, during a task. */
export type EncodeTaskControl = { kind: 'cancel' };

/** What `pool.run` sends to a task. `gauge` is [running tasks, most ever running] shared by all threads. */
export interface EncodeTask {
  job: EncodeJobInput;
  port: MessagePort;
  gauge: SharedArrayBuffer;
}
