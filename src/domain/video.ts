/**
 * The video: an upload processed into renditions by encode jobs. Its status is derived from its events
 * only, so it cannot drift from what happened. Every processing command names its `attempt`; a command
 * from an older attempt (a slow or crashed worker that comes back) is rejected with `StaleAttempt`
 * instead of overwriting newer status: that is the seeds' ordering bug, made impossible here.
 *
 * Status: UPLOADED -> PROCESSING -> SUCCEEDED | FAILED, and CANCELLED from any non-final status.
 * A retriable failure returns to PROCESSING when the reactor starts the next attempt.
 */
import { DomainError } from '../kernel/index.js';
import { unreachable, type Command, type Decider, type DomainEvent } from './types.js';

export type VideoStatus = 'NEW' | 'UPLOADED' | 'PROCESSING' | 'SUCCEEDED' | 'FAILED' | 'CANCELLED';

export interface Rendition {
  height: number;
  path: string;
  bytes: number;
}

export interface VideoSource {
  path: string;
  bytes: number;
  sha256: string;
  contentType: string | null;
}

export interface VideoState {
  status: VideoStatus;
  source: VideoSource | null;
  attempt: number;
  progress: number;
  renditions: Rendition[];
  thumbnail: string | null;
  error: { reason: string; retriable: boolean; attempt: number } | null;
}

type Attempt = { attempt: number };
export type VideoCommand =
  | Command<'Upload', { path: string; bytes: number; sha256: string; contentType?: string }>
  | Command<'StartProcessing', Attempt>
  | Command<'ReportProgress', Attempt & { percent: number }>
  | Command<'CompleteRendition', Attempt & Rendition>
  | Command<'Succeed', Attempt & { thumbnail?: string }>
  | Command<'Fail', Attempt & { reason: string; retriable: boolean }>
  | Command<'Cancel', { reason?: string }>;

export type VideoEvent =
  | DomainEvent<'VideoUploaded', { path: string; bytes: number; sha256: string; contentType: string | null }>
  | DomainEvent<'VideoProcessingStarted', Attempt>
  | DomainEvent<'VideoProcessingProgressed', Attempt & { percent: number }>
  | DomainEvent<'RenditionCompleted', Attempt & Rendition>
  | DomainEvent<'VideoProcessingSucceeded', Attempt & { thumbnail: string | null }>
  | DomainEvent<'VideoProcessingFailed', Attempt & { reason: string; retriable: boolean }>
  | DomainEvent<'VideoCancelled', { reason: string }>;

/** Paths in events are server-made, relative to the data dir: no `..`, no absolute paths. */
const storedPath = { type: 'string', pattern: '^[A-Za-z0-9_-]+(/[A-Za-z0-9_.-]+)*$', maxLength: 300, not: { pattern: '\\.\\.' } };
const attempt = { type: 'integer', minimum: 1, maximum: 1000 };
const obj = (required: string[], properties: Record<string, unknown>) => ({ type: 'object', required, additionalProperties: false, properties });

export const FINAL_STATUSES: readonly VideoStatus[] = ['SUCCEEDED', 'FAILED', 'CANCELLED'];

/**
 * The status a video has right after each event. `evolve` sets status from this table, so a reader that
 * only needs statuses (the status index) can apply events without folding whole states. Progress and
 * renditions imply PROCESSING because `decide` accepts them only while PROCESSING.
 */
export const STATUS_AFTER: Readonly<Record<VideoEvent['type'], VideoStatus>> = {
  VideoUploaded: 'UPLOADED',
  VideoProcessingStarted: 'PROCESSING',
  VideoProcessingProgressed: 'PROCESSING',
  RenditionCompleted: 'PROCESSING',
  VideoProcessingSucceeded: 'SUCCEEDED',
  VideoProcessingFailed: 'FAILED',
  VideoCancelled: 'CANCELLED',
};

export const videoDecider: Decider<VideoState, VideoCommand, VideoEvent> = {
  type: 'video',
  snapshotVersion: 1,
  // Only a cancel is a client's request. Upload carries a server-made path and checksum, and the
  // processing commands report what the encode jobs did: accepting them from a client would let anyone
  // mark any file a finished rendition (issue 11). The pipeline sends them through `runtime.execute`.
  publicCommands: ['Cancel'],
  commands: {
    Upload: obj(['path', 'bytes', 'sha256'], {
      path: storedPath,
      bytes: { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER },
      sha256: { type: 'string', pattern: '^[a-f0-9]{64}$' },
      contentType: { type: 'string', maxLength: 100 },
    }),
    StartProcessing: obj(['attempt'], { attempt }),
    ReportProgress: obj(['attempt', 'percent'], { attempt, percent: { type: 'integer', minimum: 0, maximum: 100 } }),
    CompleteRendition: obj(['attempt', 'height', 'path', 'bytes'], {
      attempt,
      height: { type: 'integer', minimum: 1, maximum: 8640 },
      path: storedPath,
      bytes: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER },
    }),
    Succeed: obj(['attempt'], { attempt, thumbnail: storedPath }),
    Fail: obj(['attempt', 'reason', 'retriable'], { attempt, reason: { type: 'string', minLength: 1, maxLength: 2000 }, retriable: { type: 'boolean' } }),
    Cancel: obj([], { reason: { type: 'string', maxLength: 500 } }),
  },

  initialState: () => ({ status: 'NEW', source: null, attempt: 0, progress: 0, renditions: [], thumbnail: null, error: null }),

  decide(command, state) {
    switch (command.type) {
      case 'Upload':
        if (state.status !== 'NEW') throw new DomainError('VideoAlreadyUploaded', 'this video already has an upload', 'conflict');
        return [{ type: 'VideoUploaded', data: { path: command.data.path, bytes: command.data.bytes, sha256: command.data.sha256, contentType: command.data.contentType ?? null } }];
      case 'StartProcessing': {
        const a = command.data.attempt;
        const resumable = state.status === 'UPLOADED' || state.status === 'PROCESSING' || (state.status === 'FAILED' && state.error?.retriable === true);
        if (!resumable) throw new DomainError('InvalidVideoStatus', `cannot start processing a ${state.status} video`, 'conflict', { status: state.status });
        if (a !== state.attempt + 1) throw staleAttempt(a, state.attempt + 1);
        return [{ type: 'VideoProcessingStarted', data: { attempt: a } }];
      }
      case 'ReportProgress':
        requireCurrent(state, command.data.attempt);
        // Progress never goes backwards: a late, lower report is a no-op, not an error.
        if (command.data.percent <= state.progress) return [];
        return [{ type: 'VideoProcessingProgressed', data: { attempt: command.data.attempt, percent: command.data.percent } }];
      case 'CompleteRendition': {
        requireCurrent(state, command.data.attempt);
        const { attempt: a, height, path, bytes } = command.data;
        if (state.renditions.some((r) => r.height === height)) return [];
        return [{ type: 'RenditionCompleted', data: { attempt: a, height, path, bytes } }];
      }
      case 'Succeed':
        requireCurrent(state, command.data.attempt);
        if (state.renditions.length === 0) throw new DomainError('NoRenditions', 'cannot succeed without a rendition', 'rule');
        return [{ type: 'VideoProcessingSucceeded', data: { attempt: command.data.attempt, thumbnail: command.data.thumbnail ?? null } }];
      case 'Fail':
        // A failure may end an attempt that is running, or reject an upload before any attempt started.
        if (state.status === 'UPLOADED' && command.data.attempt === state.attempt + 1) {
          return [{ type: 'VideoProcessingFailed', data: { attempt: command.data.attempt, reason: command.data.reason, retriable: command.data.retriable } }];
        }
        requireCurrent(state, command.data.attempt);
        return [{ type: 'VideoProcessingFailed', data: { attempt: command.data.attempt, reason: command.data.reason, retriable: command.data.retriable } }];
      case 'Cancel':
        if (state.status === 'NEW') throw new DomainError('VideoNotUploaded', 'no such video upload', 'conflict');
        if (FINAL_STATUSES.includes(state.status)) throw new DomainError('InvalidVideoStatus', `cannot cancel a ${state.status} video`, 'conflict', { status: state.status });
        return [{ type: 'VideoCancelled', data: { reason: command.data.reason ?? 'cancelled by request' } }];
      default:
        return unreachable(command);
    }
  },

  evolve(state, event) {
    switch (event.type) {
      case 'VideoUploaded':
        return { ...state, status: STATUS_AFTER[event.type], source: { ...event.data } };
      case 'VideoProcessingStarted':
        return { ...state, status: STATUS_AFTER[event.type], attempt: event.data.attempt, progress: 0, renditions: [], thumbnail: null, error: null };
      case 'VideoProcessingProgressed':
        return { ...state, progress: Math.max(state.progress, event.data.percent) };
      case 'RenditionCompleted':
        return { ...state, renditions: [...state.renditions, { height: event.data.height, path: event.data.path, bytes: event.data.bytes }].sort((a, b) => a.height - b.height) };
      case 'VideoProcessingSucceeded':
        return { ...state, status: STATUS_AFTER[event.type], progress: 100, thumbnail: event.data.thumbnail };
      case 'VideoProcessingFailed':
        return { ...state, status: STATUS_AFTER[event.type], attempt: event.data.attempt, error: { reason: event.data.reason, retriable: event.data.retriable, attempt: event.data.attempt } };
      case 'VideoCancelled':
        return { ...state, status: STATUS_AFTER[event.type], error: { reason: event.data.reason, retriable: false, attempt: state.attempt } };
      default:
        return unreachable(event);
    }
  },
};

function requireCurrent(state: VideoState, attempt: number): void {
  if (state.status !== 'PROCESSING') throw new DomainError('InvalidVideoStatus', `the video is ${state.status}, not PROCESSING`, 'conflict', { status: state.status });
  if (attempt !== state.attempt) throw staleAttempt(attempt, state.attempt);
}

function staleAttempt(got: number, current: number): DomainError {
  return new DomainError('StaleAttempt', `attempt ${got} is not the current attempt (${current})`, 'conflict', { attempt: got, current });
}

export default videoDecider;
