/**
 * The bodies of the stream deletion routes (`POST /admin/streams/:type/:id/delete` and `/undelete`),
 * built in one place: the routes answer them, and in cluster mode the stream's owner answers them to a
 * member that forwarded the deletion (cluster-routing.ts), so a deletion through any server answers alike.
 */
import type { Runtime } from '../runtime/index.js';

/** What the routes take, once the body is checked; `by` is the asker as the receiving server authenticated them. */
export interface StreamLifecycleRequest {
  action: 'delete' | 'undelete';
  hard?: boolean;
  by: string | null;
  commandId?: string;
  expectedVersion?: number;
}

export interface StreamLifecycleReply {
  id: string;
  type: string;
  version: number;
  changed: boolean;
  /** A deletion says which (`soft`, `hard`); an undelete has none. */
  deleted?: 'soft' | 'hard';
}

export async function streamLifecycle(runtime: Runtime, type: string, id: string, r: StreamLifecycleRequest): Promise<StreamLifecycleReply> {
  const opts = { by: r.by, ...(r.commandId !== undefined ? { commandId: r.commandId } : {}), ...(r.expectedVersion !== undefined ? { expectedVersion: r.expectedVersion } : {}) };
  if (r.action === 'undelete') return runtime.undeleteStream(type, id, opts);
  const hard = r.hard === true;
  return { ...(await runtime.deleteStream(type, id, { ...opts, hard })), deleted: hard ? 'hard' : 'soft' };
}
