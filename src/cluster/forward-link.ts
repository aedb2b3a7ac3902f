/**
 * A node's forwarding link: its own NATS connection, the service that answers the requests other
 * members forward to it (`serveNode`) and the sender that forwards a request to a member
 * (`forwardTo`), behind three calls. The runtime opens it on first use, so a node that no server
 * fronts (a program embedding the runtime alone) opens no connection for it.
 *
 * Why a connection of its own, not the group's: leases are renewed over the group's connection, and a
 * burst of forwarded commands (each up to `max_payload`) on the same socket would queue the renewals
 * behind it. A renewal late by a third of a lease costs the partition; a forward late costs a retry.
 *
 * Gotchas:
 * - `close()` stops the service first (senders then get no responders: `NotOwner`, retry elsewhere),
 *   waits for the requests in flight, then closes the connection: call it before the node leaves its
 *   group, so what it still answers is answered by the owner it still is.
 * - The connection pings every 2 s and gives a connect 2 s, as the log's does: a nats-server that
 *   stops answering without dying (SIGSTOP) keeps its sockets open, and only a ping notices.
 */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { ErrorCodes, RuntimeError } from '../kernel/index.js';
import { forwardTo, serveNode, type ForwardHandler, type NodeService } from './forwarding.js';
import type { ForwardRequest, ForwardResult } from './forward-protocol.js';

export interface ForwardLinkOptions {
  servers: string[];
  group: string;
  nodeId: string;
  /** `retryAfterMs` of a `NotOwner` answered when the owner is gone: about a lease (the time a partition takes to move). */
  leaseMs: number;
  /** How long a forwarded request waits for its answer (default 10 000 ms); after it a command's outcome is unknown. */
  timeoutMs?: number;
}

export interface ForwardLink {
  /** Starts answering requests forwarded to this node with `handler` (once; a second call is `InvalidOptions`). */
  serve(handler: ForwardHandler): Promise<void>;
  /** Sends `request` to member `nodeId` and answers its result; rejects as `forwardTo` does. */
  forward<R extends ForwardRequest>(nodeId: string, request: R): Promise<ForwardResult<R>>;
  /** Stops the service (answering what it received), then closes the connection. Idempotent. */
  close(): Promise<void>;
}

export const DEFAULT_FORWARD_TIMEOUT_MS = 10_000;

export async function openForwardLink(o: ForwardLinkOptions): Promise<ForwardLink> {
  let connection: NatsConnection;
  try {
    // Reconnect forever, quickly: a node that gave up on NATS could forward nothing until restarted.
    connection = await connect({ servers: o.servers, name: `eventide-forward-${o.nodeId}`, maxReconnectAttempts: -1, reconnectTimeWait: 250, pingInterval: 2_000, maxPingOut: 3, timeout: 2_000 });
  } catch (err) {
    throw new RuntimeError(ErrorCodes.Unavailable, `cannot reach NATS at ${o.servers.join(', ')} to forward requests: ${(err as Error).message}`, { retryAfterMs: 1000 }, true);
  }
  const timeoutMs = o.timeoutMs ?? DEFAULT_FORWARD_TIMEOUT_MS;
  let service: Promise<NodeService> | undefined;
  let closing: Promise<void> | undefined;
  return {
    async serve(handler) {
      if (service !== undefined) throw new RuntimeError(ErrorCodes.InvalidOptions, `node ${o.nodeId} already answers forwarded requests`);
      if (closing !== undefined) throw new RuntimeError(ErrorCodes.RuntimeClosed, 'the forwarding link is closed', {}, true);
      service = serveNode({ connection, group: o.group, nodeId: o.nodeId, handler });
      await service;
    },
    forward(nodeId, request) {
      if (closing !== undefined) return Promise.reject(new RuntimeError(ErrorCodes.RuntimeClosed, 'the forwarding link is closed', {}, true));
      return forwardTo({ connection, group: o.group, nodeId, request, timeoutMs, origin: o.nodeId, leaseMs: o.leaseMs });
    },
    close() {
      closing ??= (async () => {
        const s = await service?.catch(() => undefined);
        await s?.close(timeoutMs);
        await connection.drain().catch(() => connection.close());
      })();
      return closing;
    },
  };
}
