/**
 * What the group bucket's keys hold, and how their values are written and read back. Values come from
 * other processes (other versions, an operator's `nats kv put`), so reading one never throws: a value
 * that does not parse is read as the most cautious thing it could mean.
 *
 * Gotchas:
 * - These shapes are the protocol between members of one group: a member that writes another shape
 *   is read as "a foreign, unknown holder" (a lease) or ignored (a member). Add fields, never rename.
 * - Bounded: ids are at most 64 characters, `meta` at most 16 entries of 256 characters; anything
 *   longer is cut on write and dropped on read, so a value stays far below the bucket's size limit.
 */

export const CONFIG_KEY = 'config';
export const MEMBER_PREFIX = 'members.';
export const LEASE_PREFIX = 'leases.';

/** Group names and node ids: they become parts of bucket names and keys (no dots, no wildcards). */
export const NAME_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

export const memberKey = (nodeId: string): string => `${MEMBER_PREFIX}${nodeId}`;
export const leaseKey = (partition: number): string => `${LEASE_PREFIX}${partition}`;

/** The partition a lease key names, or undefined for any other key. */
export function partitionOfKey(key: string, partitions: number): number | undefined {
  if (!key.startsWith(LEASE_PREFIX)) return undefined;
  const p = Number(key.slice(LEASE_PREFIX.length));
  return Number.isSafeInteger(p) && p >= 0 && p < partitions && String(p) === key.slice(LEASE_PREFIX.length) ? p : undefined;
}

/** The node id a member key names, or undefined for any other key. */
export function nodeIdOfKey(key: string): string | undefined {
  if (!key.startsWith(MEMBER_PREFIX)) return undefined;
  const id = key.slice(MEMBER_PREFIX.length);
  return NAME_PATTERN.test(id) ? id : undefined;
}

/** The group's fixed settings, written once by the first member that joins. */
export interface GroupConfig {
  partitions: number;
}

/** A lease as stored: `owner` null means released (free to take at once, with `epoch + 1`). */
export interface LeaseRecord {
  owner: string | null;
  epoch: number;
  /** How long after this revision was written the holder may still serve: a taker waits longer than this. */
  expiresAfterMs: number;
}

/** A member's heartbeat value. Liveness is not in it: it is in the revisions changing (see membership.ts). */
export interface MemberRecord {
  nodeId: string;
  partitions: number;
  meta: Record<string, string>;
}

const decoder = new TextDecoder();

function parseJson(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(decoder.decode(bytes)) as unknown;
  } catch {
    return undefined;
  }
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

export function encodeConfig(config: GroupConfig): string {
  return JSON.stringify({ partitions: config.partitions });
}

export function decodeConfig(bytes: Uint8Array): GroupConfig | undefined {
  const v = parseJson(bytes) as { partitions?: unknown } | undefined;
  return isCount(v?.partitions) && v.partitions > 0 ? { partitions: v.partitions } : undefined;
}

export function encodeLease(lease: LeaseRecord): string {
  return JSON.stringify({ owner: lease.owner, epoch: lease.epoch, expiresAfterMs: lease.expiresAfterMs });
}

/**
 * Reads a lease value written at `revision`. A value that does not parse is held by an unknown owner
 * for `fallbackMs` (the reader's own lease time), with an epoch above any it could have replaced:
 * every take writes the key, so the key's revision is at least the number of epochs it has seen.
 */
export function decodeLease(bytes: Uint8Array, revision: number, fallbackMs: number): LeaseRecord {
  const v = parseJson(bytes) as { owner?: unknown; epoch?: unknown; expiresAfterMs?: unknown } | undefined;
  const ownerOk = v?.owner === null || (typeof v?.owner === 'string' && NAME_PATTERN.test(v.owner));
  if (!v || !ownerOk || !isCount(v.epoch) || !isCount(v.expiresAfterMs)) return { owner: '?', epoch: revision, expiresAfterMs: fallbackMs };
  return { owner: v.owner as string | null, epoch: v.epoch, expiresAfterMs: v.expiresAfterMs };
}

export function encodeMember(member: MemberRecord): string {
  return JSON.stringify({ nodeId: member.nodeId, partitions: member.partitions, meta: boundedMeta(member.meta) });
}

export function decodeMember(bytes: Uint8Array): MemberRecord | undefined {
  const v = parseJson(bytes) as { nodeId?: unknown; partitions?: unknown; meta?: unknown } | undefined;
  if (typeof v?.nodeId !== 'string' || !NAME_PATTERN.test(v.nodeId) || !isCount(v.partitions)) return undefined;
  const meta = typeof v.meta === 'object' && v.meta !== null && !Array.isArray(v.meta) ? boundedMeta(v.meta as Record<string, unknown>) : {};
  return { nodeId: v.nodeId, partitions: v.partitions, meta };
}

/** At most 16 string entries, keys and values cut to 256 characters: a member's address, its version. */
export function boundedMeta(meta: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(meta).slice(0, 16)) {
    if (typeof v === 'string' && k !== '__proto__') out[k.slice(0, 256)] = v.slice(0, 256);
  }
  return out;
}
