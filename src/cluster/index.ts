/**
 * Cluster mode's partition ownership: a group of nodes shares the partitions like a Kafka consumer
 * group, with one lease per partition in a JetStream KV bucket and an epoch the log's fencing uses.
 * docs/cluster-ownership.md has the design and the timing argument.
 */
export { joinGroup, PartitionGroup } from './group.js';
export type { GroupOptions, Member, RevokeReason } from './options.js';
export { assignPartitions } from './assignment.js';
export { serveNode, forwardTo, notOwner } from './forwarding.js';
export type { ForwardHandler, ServeNodeOptions, NodeService, ForwardOptions } from './forwarding.js';
export { openForwardLink, DEFAULT_FORWARD_TIMEOUT_MS } from './forward-link.js';
export type { ForwardLink, ForwardLinkOptions } from './forward-link.js';
export { nodeSubject, FORWARD_PROTOCOL_VERSION, MAX_HOPS, FORWARDED_AUDIT_KINDS } from './forward-protocol.js';
export type {
  ForwardRequest,
  ForwardResult,
  ExecuteRequest,
  LoadRequest,
  HistoryRequest,
  DiffRequest,
  DiffJson,
  LifecycleRequest,
  LifecycleJson,
  AuditRequest,
  AuditJson,
  CommandJson,
  ExecuteOptionsJson,
  LoadQueryJson,
  EventJson,
  CommandResultJson,
  StateJson,
  HistoryPageJson,
} from './forward-protocol.js';
