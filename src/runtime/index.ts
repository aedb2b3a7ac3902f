export { createRuntime, toEpochMs } from './create-runtime.js';
export type { Runtime, ExecuteOptions, ExecuteResult, LoadOptions, LoadResult, HistoryOptions, PartitionInfo, CommittedListener, PluginChannel } from './create-runtime.js';
export type { RuntimeOptions } from './options.js';
export { builtinDomains, builtinViews, loadDeciders, toModuleUrl, type DomainModule } from './domain-registry.js';
export type { WorkerPlugin, WorkerPluginContext, WorkerPluginFactory, WorkerPluginSpec } from './worker-plugin.js';
export { hydrate, type Hydrated } from './hydrate.js';
export { spawnWorker, taskModule, workerEntry } from './thread-entry.js';
export type { ActorStats, PartitionResumeResult } from './protocol.js';
export type { ResumeResult, StorageStatus } from './storage-recovery.js';
