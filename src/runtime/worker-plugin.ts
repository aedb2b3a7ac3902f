/**
 * Worker plugins: code that must run inside the actor worker that owns a partition, next to its single
 * writer (the projection engine is one). The runtime loads them by module URL, like deciders, so the
 * runtime never imports the folders built on top of it (DESIGN: runtime <- projections).
 *
 * A plugin sees the commits of its worker's partitions after they are durable, can answer requests from
 * the main thread, and can post events to it.
 */
import type { EventEnvelope } from '../kernel/index.js';
import type { RuntimeLog } from '../log/index.js';

export interface WorkerPluginSpec {
  /** Module (file URL) whose default export is a `WorkerPluginFactory`. */
  module: string;
  /** Structured-cloneable options handed to the factory. */
  options?: unknown;
}

export interface WorkerPluginContext {
  readonly workerIndex: number;
  readonly ownedPartitions: readonly number[];
  readonly totalPartitions: number;
  /** The log's read side and view store, opened in this worker; events at the deciders' current schema versions. */
  readonly log: RuntimeLog;
  /** Head (next offset) of an owned partition, as this worker's single writer knows it. */
  head(partition: number): number;
  /**
   * Runs `fn` while this worker decides and commits nothing: queued commands wait, every batch already
   * queued has been answered (so is durable). For work that must see rows and checkpoints of one moment
   * and may write over them (reconcile with repair). Keep it short: commands wait meanwhile.
   */
  exclusive<T>(fn: () => Promise<T>): Promise<T>;
  /** Post an event to the plugin's listeners on the main thread. */
  emit(payload: unknown): void;
}

export interface WorkerPlugin {
  readonly name: string;
  /**
   * Synchronously, right after a command's events were staged into the current batch: view-store writes
   * the plugin queues now join the log's batch (all or nothing with those events) where the adapter's
   * `ViewStore.joinsLogBatch`, else they commit after it, in order (see log/port.ts).
   */
  onAppend?(events: readonly EventEnvelope[]): void;
  /** Synchronously, after the last command of a batch and before its commit: the last chance to join it. */
  onBatchEnd?(): void;
  /**
   * After a batch is durable, once per `onBatchEnd` and in the same order (batches are pipelined: the
   * next batch's onAppend/onBatchEnd may come before this). `heads`: owned partitions whose head moved.
   */
  onCommitted?(heads: ReadonlyMap<number, number>): void;
  /**
   * Cluster mode: events of `partition` up to `head` (its next offset) were applied to the log from the
   * log of record, outside this worker's batches (a partition another node writes, which the cache
   * follows; a takeover's catch-up). They are readable from the log now; `context.head(partition)` says
   * so too. Never inside a batch: a plugin catches up from the log as it does after start-up.
   */
  onFollowed?(partition: number, head: number): void;
  /** A request from the main thread; the result (or thrown RuntimeError) is sent back. */
  onRequest?(payload: unknown): unknown;
  close?(): Promise<void> | void;
}

export type WorkerPluginFactory = (ctx: WorkerPluginContext, options: unknown) => WorkerPlugin | Promise<WorkerPlugin>;
