/**
 * Cluster mode from `npm start`'s environment (run-server.ts lists the variables): with `EVENTIDE_NATS`
 * the server is one node of a group sharing the partitions over NATS JetStream (docs/cluster.md);
 * without it, the embedded single server, and no NATS at all.
 *
 * Why the defaults are what they are:
 * - `EVENTIDE_NODE_ID`: `<hostname>-<port>`. It must be unique among the live members and should stay
 *   the same across restarts (the members, `/partitions` and the logs name it). One process listens on a
 *   host's port at a time, so hostname + port is unique on a host and stable for a server with a fixed
 *   `PORT` (with `PORT=0` it changes at each start; set it then). Characters outside `[A-Za-z0-9_-]`
 *   (a dotted hostname) become `-`.
 * - `EVENTIDE_REPLICAS`: 1 with fewer than three URLs, else 3. A single nats-server can keep one copy
 *   only (a stream of 3 replicas is never created there), so `EVENTIDE_NATS=nats://127.0.0.1:4222` works
 *   as it is; three URLs name a cluster that can keep 3. A 3-server cluster listed by one URL needs
 *   `EVENTIDE_REPLICAS=3` said explicitly.
 *
 * Gotchas: every member of a group must use the same `PARTITIONS` and `EVENTIDE_REPLICAS` (the first
 * member fixes them; a member with another partition count is refused when it joins).
 */
import { ErrorCodes, RuntimeError } from '../kernel/index.js';
import type { ClusterOptions } from '../runtime/index.js';
import { intEnv, type Env } from './env.js';

/** The cluster variables, checked; `nodeId` unset means the default, known once the server listens. */
export interface ClusterEnv {
  servers: string[];
  group: string;
  nodeId: string | undefined;
  replicas: 1 | 3 | 5;
  leaseMs: number | undefined;
  forwardTimeoutMs: number | undefined;
}

const NAME = /^[A-Za-z0-9_-]{1,64}$/;
/** A NATS client URL: `nats://` or `tls://`, a host, an optional port; no spaces, no commas. */
const NATS_URL = /^(?:nats|tls):\/\/[^\s,/]+$/;
const MAX_SERVERS = 16;
const CLUSTER_ONLY = ['EVENTIDE_NODE_ID', 'EVENTIDE_GROUP', 'EVENTIDE_REPLICAS', 'EVENTIDE_LEASE_MS', 'EVENTIDE_FORWARD_TIMEOUT_MS'] as const;

const invalid = (message: string): RuntimeError => new RuntimeError(ErrorCodes.InvalidOptions, message);

/** The cluster variables of `env`, checked (one-line errors); undefined without `EVENTIDE_NATS`. */
export function clusterEnvOf(env: Env): ClusterEnv | undefined {
  const raw = env.EVENTIDE_NATS?.trim();
  if (raw === undefined || raw === '') {
    const stray = CLUSTER_ONLY.find((name) => (env[name] ?? '') !== '');
    if (stray) throw invalid(`${stray} is set but EVENTIDE_NATS is not: cluster mode needs EVENTIDE_NATS (nats://host:port, comma-separated)`);
    return undefined;
  }
  const servers = raw.split(',').map((s) => s.trim());
  if (servers.length > MAX_SERVERS || servers.some((s) => !NATS_URL.test(s) || !URL.canParse(s))) {
    throw invalid(`EVENTIDE_NATS must be up to ${MAX_SERVERS} comma-separated NATS URLs (nats://host:port), got ${JSON.stringify(raw.slice(0, 200))}`);
  }
  const name = (variable: string, fallback: string | undefined): string | undefined => {
    const v = env[variable];
    if (v === undefined || v === '') return fallback;
    if (!NAME.test(v)) throw invalid(`${variable} must match [A-Za-z0-9_-]{1,64}, got ${JSON.stringify(v.slice(0, 80))}`);
    return v;
  };
  const replicas = intEnv(env, 'EVENTIDE_REPLICAS', servers.length >= 3 ? 3 : 1, 1, 5);
  if (replicas !== 1 && replicas !== 3 && replicas !== 5) throw invalid(`EVENTIDE_REPLICAS must be 1, 3 or 5, got ${JSON.stringify(env.EVENTIDE_REPLICAS)}`);
  return {
    servers,
    group: name('EVENTIDE_GROUP', 'eventide')!,
    nodeId: name('EVENTIDE_NODE_ID', undefined),
    replicas,
    leaseMs: intEnv(env, 'EVENTIDE_LEASE_MS', undefined, 300, 600_000),
    forwardTimeoutMs: intEnv(env, 'EVENTIDE_FORWARD_TIMEOUT_MS', undefined, 100, 600_000),
  };
}

/** `<hostname>-<port>`, in the node id alphabet (see the header). */
export function defaultNodeId(hostname: string, port: number): string {
  const host = hostname.replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 64 - 6) || 'eventide';
  return `${host}-${port}`;
}

/**
 * The runtime's `cluster` option: the checked variables, the node id (its default from this server's
 * host and port) and what the node announces to the other members (its URL, when it is one they can use).
 */
export function clusterOptions(c: ClusterEnv, hostname: string, port: number, url: string | undefined): ClusterOptions {
  return {
    servers: c.servers,
    group: c.group,
    nodeId: c.nodeId ?? defaultNodeId(hostname, port),
    replicas: c.replicas,
    ...(c.leaseMs !== undefined ? { leaseMs: c.leaseMs } : {}),
    ...(c.forwardTimeoutMs !== undefined ? { forwardTimeoutMs: c.forwardTimeoutMs } : {}),
    ...(url !== undefined ? { meta: { url } } : {}),
  };
}
