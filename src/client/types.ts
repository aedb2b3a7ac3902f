/**
 * The JSON shapes of the HTTP API (docs/http-api.md), as the client hands them out. They are written
 * out here, not imported from the server, because the client ships without the server's code;
 * test/client/types.unit.test.ts holds them equal to the server's own types where the server has one
 * (`EnvelopeJson`, `VideoView`), so the two cannot drift apart unnoticed.
 */
import type { EventMeta } from '../kernel/index.js';

/** An event's `type` and `data`; a typed client narrows it to a union of its events. */
export interface EventShape {
  type: string;
  data: unknown;
}

/** Where and when an event is: every field of an envelope but its `type` and `data`. */
export interface EnvelopeFields {
  aggregateType: string;
  /** The aggregate id. */
  stream: string;
  /** Position in the stream: 1, 2, 3, ... */
  seq: number;
  /** ISO-8601. */
  ts: string;
  partition: number;
  /** Position in the partition's log: 0, 1, 2, ... */
  offset: number;
  meta: EventMeta;
}

/** One committed event as the API shows it (`E` is a union of `{ type, data }` for a typed aggregate). */
export type EventJson<E extends EventShape = EventShape> = E extends EventShape ? Flat<EnvelopeFields & E> : never;

/** One object type instead of an intersection: what an editor shows, and what type equality compares. */
type Flat<T> = { [K in keyof T]: T[K] };

/** A command as sent: `data` may be left out for a command without required fields. */
export interface CommandInput {
  type: string;
  data?: unknown;
}

export interface CommandResult<S = unknown, E extends EventShape = EventShape> {
  id: string;
  type: string;
  /** The stream's version after the command. */
  version: number;
  events: Array<EventJson<E>>;
  state: S;
  /** The log position just after the last event: give it to `views.get(..., { position })` to read your write. Absent when the command recorded nothing. */
  position?: string;
  /** True when this `commandId` was already applied: this is the first answer, and nothing was written. */
  duplicate?: true;
}

export interface LoadResult<S = unknown> {
  id: string;
  type: string;
  version: number;
  state: S;
}

export interface HistoryPage<E extends EventShape = EventShape> {
  events: Array<EventJson<E>>;
  /** The `from` of the next page, while more events remain. */
  next?: number;
}

export interface DiffResult<S = unknown, E extends EventShape = EventShape> {
  id: string;
  type: string;
  /** Version 0 with state null when `from` lies before the first event. */
  from: { version: number; state: S | null };
  to: { version: number; state: S };
  events: Array<EventJson<E>>;
}

export interface ViewRow<R = unknown> {
  id: string;
  row: R;
}

export interface PartitionLag {
  partition: number;
  checkpoint: number;
  head: number;
  lag: number;
}

export interface ViewRowAnswer<R = unknown> {
  view: string;
  id: string;
  row: R;
}

export interface ViewPage<R = unknown> {
  view: string;
  rows: Array<ViewRow<R>>;
  /** The `after` of the next page, while more rows remain. */
  next?: string;
  lag: PartitionLag[];
}

export interface RebuildStatus {
  view: string;
  state: 'idle' | 'building' | 'swapped' | 'failed';
  generation: number;
  progress: number;
  startedAt?: number;
  finishedAt?: number;
  error?: string;
}

export interface ReconcileReport {
  checked: number;
  drift: number;
  mismatches: Array<{ id: string; view: unknown; truth: unknown }>;
  repaired: number;
  /** Partitions whose log could not be read: not checked. */
  damaged: Array<{ partition: number; code: string; message: string }>;
}

export type VideoStatus = 'NEW' | 'UPLOADED' | 'PROCESSING' | 'SUCCEEDED' | 'FAILED' | 'CANCELLED';

/** `GET /videos/:id`: the status derived from the log; `url`s are paths on the server (`client.url(path)` makes them absolute). */
export interface VideoView {
  id: string;
  version: number;
  status: VideoStatus;
  attempt: number;
  progress: number;
  source: { bytes: number; sha256: string; contentType: string | null } | null;
  renditions: Array<{ height: number; bytes: number; url: string }>;
  thumbnail?: string;
  error?: { reason: string; retriable: boolean; attempt: number };
}

export interface UploadResult {
  id: string;
  status: 'UPLOADED';
  bytes: number;
  sha256: string;
}

export interface VideoPage {
  videos: VideoView[];
  next?: string;
}

export interface VideoHistory {
  id: string;
  events: EventJson[];
}

export interface Health {
  /** `degraded`: serving, with `degraded` saying what is wrong (cluster mode: a partition this server cannot follow). */
  status: 'ok' | 'degraded';
  partitions: number;
  workers: number;
  aggregateTypes: string[];
  feedClients: number;
  degraded?: string[];
}

export interface PartitionsReport {
  partitions: Array<{
    partition: number;
    worker: number;
    /** Events in the partition. */
    offset: number;
    /** Why the partition is stopped (damage), when it is. */
    stopped?: string;
    feedLag: number;
    views: Record<string, { checkpoint: number; lag: number }>;
  }>;
  workers: Array<{ worker: number; liveActors: number; queued: number; commandsProcessed: number }>;
}

/** How much of a stream reads may show (docs/data-lifecycle.md); absent fields set no limit. */
export interface RetentionSettings {
  /** Events older than this many ms are gone for reads. */
  maxAge?: number;
  /** Only the newest `maxCount` events are readable. */
  maxCount?: number;
  /** Events with a seq below this are gone for reads (per stream only). */
  truncateBefore?: number;
}

/** `GET /admin/retention/...`: the stored settings (null: none) and, for a stream, what reads apply now. */
export interface RetentionInfo {
  aggregateType: string;
  id?: string;
  settings: RetentionSettings | null;
  stream?: {
    effective: RetentionSettings;
    /** Whose settings apply: the stream's own, its type's, or none. */
    source: 'stream' | 'type' | 'none';
    head: number;
    /** The first version reads may show. */
    firstVersion: number;
  };
}

/** `PUT /admin/retention/...`: as `RetentionInfo`, and whether anything changed (false: already so, nothing recorded). */
export interface RetentionChange extends RetentionInfo {
  changed: boolean;
}

/** `POST /admin/streams/:type/:id/undelete` (and, with `deleted`, `.../delete`). */
export interface StreamLifecycleResult {
  id: string;
  type: string;
  version: number;
  /** False when the stream was already so (a retry): nothing was appended. */
  changed: boolean;
}

export interface StreamDeletion extends StreamLifecycleResult {
  deleted: 'soft' | 'hard';
}

/** `POST /admin/scavenge`: what a pass removed and what it left alone, and why. */
export interface ScavengeReport {
  streams: number;
  events: number;
  pages: number;
  snapshots: number;
  commands: number;
  indexOffsets: number;
  skipped: { aggregateType?: string; id?: string; reason: string }[];
}

/** `GET /admin/scavenge`: when the last pass started (epoch ms) and its report or error; null before the first. */
export type LastScavenge = { at: number; report: ScavengeReport } | { at: number; error: string } | null;

/** One record of the audit stream (`$audit/lifecycle`). */
export interface AuditRecordJson {
  seq: number;
  ts: string;
  kind: string;
  target: { aggregateType?: string; id?: string; subject?: string };
  by: string | null;
  details: Record<string, unknown>;
}

/** `GET /admin/audit`: newest first with `older`, or (asked with `from`) oldest first with `next`. */
export interface AuditPage {
  records: AuditRecordJson[];
  head: number;
  older?: number;
  next?: number;
}

/** `POST /admin/subjects/:subject/forget`. */
export interface ForgetResult {
  subject: string;
  deleted: boolean;
  scrubbed: boolean;
  audit: { version: number; duplicate: boolean };
}

/** `POST /admin/backup`: the backup is complete and verified (its `backup.json`, without server paths). */
export interface BackupReport {
  name: string;
  ok: true;
  tool: 'eventide';
  toolVersion: string;
  formatVersion: number;
  lmdbVersion: string;
  partitions: number;
  created: string;
  compacted: boolean;
  bytes: number;
  events: number;
  eventsPerPartition: number[];
  verified: boolean;
  subjectKeys?: boolean;
  durationMs: number;
}

export interface VerifyProblemBucket {
  status: 'ok' | 'damaged';
  problems: { db: string; key: string; problem: string }[];
  problemCount: number;
}

export interface VerifyPartition extends VerifyProblemBucket {
  partition: number;
  /** Intact events stored with this partition. */
  events: number;
  /** Refs in this partition's index. */
  indexed: number;
}

/** `GET /admin/verify`: what the scan of the live log found, per partition and elsewhere. */
export interface VerifyReport {
  ok: boolean;
  formatVersion: number | null;
  partitionCount: number;
  records: Record<string, number>;
  partitions: VerifyPartition[];
  other: VerifyProblemBucket;
  startedAt: string;
  durationMs: number;
}
