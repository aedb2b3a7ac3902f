/**
 * Eventide servers as cluster nodes for the HTTP-level cluster tests: each started as `npm start`
 * starts one (src/server/main.ts, configured by EVENTIDE_NATS and the other variables), on its own
 * data dir, one worker, one group; `sharing()` waits until every partition has an owner among them
 * and each of them owns some, as the first server sees it.
 */
import { startServer, type ServerChild } from './server-child.js';
import { makeTempDir, removeDir } from './temp-dirs.js';

export interface ClusterServer {
  nodeId: string;
  child: ServerChild;
  url: string;
  dataDir: string;
}

export interface PartitionsBody {
  node?: string;
  members?: { nodeId: string; url?: string }[];
  partitions: { partition: number; offset: number; served?: boolean; owner?: string; epoch?: number; lag?: number }[];
}

/** `headers`: e.g. an `authorization` header, when the servers have tokens. */
export async function partitionsOf(url: string, headers: Record<string, string> = {}): Promise<PartitionsBody> {
  return (await (await fetch(`${url}/partitions`, { headers })).json()) as PartitionsBody;
}

/**
 * Starts one server per node id (sorted by node id), all in one group of `partitions` on `natsUrl`; `env`
 * adds variables to every node, `envOf` per node.
 */
export async function startClusterServers(
  nodeIds: string[],
  options: { natsUrl: string; partitions: number; group: string; leaseMs?: number; env?: Record<string, string>; envOf?: (nodeId: string) => Record<string, string> },
): Promise<ClusterServer[]> {
  const servers = await Promise.all(
    nodeIds.map(async (nodeId) => {
      const dataDir = await makeTempDir(`cluster-${options.group}`);
      const env = { PARTITIONS: String(options.partitions), WORKERS: '1', EVENTIDE_NATS: options.natsUrl, EVENTIDE_NODE_ID: nodeId, EVENTIDE_GROUP: options.group, EVENTIDE_LEASE_MS: String(options.leaseMs ?? 2000), ...options.env, ...options.envOf?.(nodeId) };
      const child = startServer(dataDir, { env });
      return { nodeId, child, url: await child.listening, dataDir };
    }),
  );
  return servers.sort((a, b) => a.nodeId.localeCompare(b.nodeId));
}

/** Resolves once every partition has an owner among `servers` and each of them owns one (at most `timeoutMs`). */
export async function sharing(servers: readonly ClusterServer[], timeoutMs = 90_000, headers: Record<string, string> = {}): Promise<void> {
  const ids = new Set(servers.map((s) => s.nodeId));
  for (const until = performance.now() + timeoutMs; ; await new Promise((r) => setTimeout(r, 200))) {
    const v = await partitionsOf(servers[0]!.url, headers).catch(() => undefined);
    const owners = new Set(v?.partitions.map((p) => p.owner));
    if (v && v.members?.length === servers.length && v.partitions.every((p) => p.owner !== undefined && ids.has(p.owner)) && owners.size === ids.size) return;
    if (performance.now() > until) throw new Error(`the servers never shared the partitions: ${JSON.stringify(v)}`);
  }
}

/** Stops every server (SIGTERM) and removes their data dirs. */
export async function stopClusterServers(servers: readonly ClusterServer[]): Promise<void> {
  await Promise.allSettled(servers.map((s) => s.child.kill('SIGTERM')));
  await Promise.allSettled(servers.map((s) => removeDir(s.dataDir)));
}
