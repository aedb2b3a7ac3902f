/**
 * The JetStream adapter of the log port (port.ts): NATS JetStream as the log of record, a local
 * `LmdbLog` as the node's cache (jetstream-log.ts says why). The only folder that imports `@nats-io/*`.
 */
export { JetStreamLog, type JetStreamLogOptions, type PartitionLeases } from './jetstream-log.js';
export type { PartitionTip } from './local-cache.js';
