/**
 * The log of record's side: one JetStream stream per partition (`EVT_<log>_P<n>`, subject
 * `evt.<log>.p.<n>`), created when missing, and the three things the adapter does with them: publish a
 * message conditional on the stream's last sequence, read the message at a sequence, and read a range
 * of messages in order (catch-up). Only this folder imports the NATS clients.
 *
 * Retries: right after a nats-server dies, requests fail for a moment (`jetstream is not enabled`,
 * timeouts, no responders) while the client reconnects and the stream elects a leader. Those are
 * retried until RETRY_FOR_MS; a publish is retried with the same `Nats-Msg-Id`, so one that did land
 * the first time is answered as a duplicate with its sequence instead of being stored twice. Anything
 * else, and above all "wrong last sequence", is never retried: it is the answer.
 *
 * Gotchas:
 * - Stream config: file storage, `discard: new`, no limits, `deny_delete`/`deny_purge`: nothing but a
 *   new append changes a partition's log. `max_msgs_per_subject` stays unlimited (a limit would make
 *   JetStream drop old messages of the one subject).
 * - The partition count is written in each stream's description ("of <P>"): 2.9 has no stream metadata.
 */
import { DeliverPolicy, DiscardPolicy, jetstream, jetstreamManager, StorageType, type Consumer, type JetStreamClient, type JetStreamManager, type JsMsg, type PubAck, type StoredMsg } from '@nats-io/jetstream';
import { headers, type NatsConnection } from '@nats-io/transport-node';
import { ErrorCodes, RuntimeError } from '../../kernel/index.js';

/** How long transient failures are retried before a request gives up. */
const RETRY_FOR_MS = 30_000;
/** JetStream's code for a publish whose expected last sequence did not hold. */
const WRONG_LAST_SEQUENCE = 10071;
/** Messages one catch-up fetch asks for (each at most max_payload: bounds what a fetch buffers). */
const FETCH_BATCH = 64;

/** One message of a partition stream, as the cache applies it. */
export interface StreamMessage {
  seq: number;
  header: (name: string) => string | undefined;
  data: Uint8Array;
}

/** A consumer's message as the cache reads it. */
export function streamMessage(m: JsMsg): StreamMessage {
  return { seq: m.seq, header: (k) => m.headers?.get(k) || undefined, data: m.data };
}

export interface StreamTip {
  /** The stream's last sequence (0: empty). */
  seq: number;
  /** When JetStream created the stream (a recreated stream is another log). */
  created: string;
}

export class PartitionStreams {
  readonly name: string;
  readonly partitions: number;
  readonly #js: JetStreamClient;
  readonly #jsm: JetStreamManager;

  private constructor(name: string, partitions: number, js: JetStreamClient, jsm: JetStreamManager) {
    this.name = name;
    this.partitions = partitions;
    this.#js = js;
    this.#jsm = jsm;
  }

  /**
   * The streams of log `name`, created when missing (`partitions` for a new log, 16 by default). An
   * existing log keeps its partition count: another one is `PartitionMismatch`.
   */
  static async open(nc: NatsConnection, name: string, partitions: number | undefined, replicas: number): Promise<PartitionStreams> {
    const jsm = await retried(() => jetstreamManager(nc));
    const js = jetstream(nc);
    const first = await retried(() => infoOrNull(jsm, streamName(name, 0)));
    let count = partitions ?? 16;
    if (first) {
      const stored = Number(/ of (\d+)$/.exec(first.config.description ?? '')?.[1]);
      if (!Number.isSafeInteger(stored) || stored < 1) throw new RuntimeError(ErrorCodes.InvalidOptions, `stream ${first.config.name} is not a partition of an eventide log (description ${JSON.stringify(first.config.description ?? '')})`);
      if (partitions !== undefined && partitions !== stored) {
        throw new RuntimeError(ErrorCodes.PartitionMismatch, `log ${name} was created with ${stored} partitions; opening it with ${partitions} would move aggregates to other partitions. Omit 'partitions' or pass ${stored}.`, { stored, requested: partitions });
      }
      count = stored;
    }
    const streams = new PartitionStreams(name, count, js, jsm);
    // Partition 0 last: once it exists, every partition does (a crash half-way is finished by the next open).
    for (let p = count - 1; p >= 0; p--) await streams.#ensure(p, replicas);
    return streams;
  }

  streamName(partition: number): string {
    return streamName(this.name, partition);
  }

  subject(partition: number): string {
    return `evt.${this.name}.p.${partition}`;
  }

  async #ensure(partition: number, replicas: number): Promise<void> {
    const name = this.streamName(partition);
    if (this.#matches(name, partition, await retried(() => infoOrNull(this.#jsm, name)))) return;
    try {
      await retried(() =>
        this.#jsm.streams.add({
          name,
          subjects: [this.subject(partition)],
          description: `eventide log ${this.name}: partition ${partition} of ${this.partitions}`,
          storage: StorageType.File,
          num_replicas: replicas,
          max_msgs_per_subject: -1,
          discard: DiscardPolicy.New,
          deny_delete: true,
          deny_purge: true,
        }),
      );
    } catch (err) {
      // Two members opening one log at once both find no stream; the second add is refused ("subjects
      // overlap with an existing stream", seen in a clean-clone run). The stream as expected is all we need.
      if (!this.#matches(name, partition, await retried(() => infoOrNull(this.#jsm, name)))) throw err;
    }
  }

  /** True when `existing` is this partition's stream; throws when a stream of that name holds other subjects. */
  #matches(name: string, partition: number, existing: Awaited<ReturnType<typeof infoOrNull>>): boolean {
    if (!existing) return false;
    if (existing.config.subjects?.length !== 1 || existing.config.subjects[0] !== this.subject(partition)) {
      throw new RuntimeError(ErrorCodes.InvalidOptions, `stream ${name} exists with subjects ${JSON.stringify(existing.config.subjects)}, not ${this.subject(partition)}`);
    }
    return true;
  }

  /** The stream's last sequence and creation time, as JetStream tells them now. */
  async tip(partition: number): Promise<StreamTip> {
    const name = this.streamName(partition);
    const info = await retried(() => this.#jsm.streams.info(name));
    return { seq: info.state.last_seq, created: info.created };
  }

  /**
   * An ordered consumer of a partition's messages from seq `from` on (ephemeral: the server drops it
   * once unused; the client recreates it at the right sequence after a failover).
   */
  orderedConsumer(partition: number, from: number): Promise<Consumer> {
    return retried(() => this.#js.consumers.get(this.streamName(partition), { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: from }));
  }

  /**
   * Publishes one message, conditional on the stream's last sequence being `expectedLast`. Transient
   * failures are retried with the same message id (see the header). Throws the client's error for a
   * refusal ("wrong last sequence": see `isWrongLastSequence`) and once retries run out.
   */
  publish(partition: number, payload: Uint8Array, fields: readonly [string, string][], msgId: string, expectedLast: number): Promise<PubAck> {
    const h = headers();
    for (const [k, v] of fields) h.set(k, v);
    return retried(() => this.#js.publish(this.subject(partition), payload, { msgID: msgId, expect: { lastSequence: expectedLast, streamName: this.streamName(partition) }, headers: h }));
  }

  /** The message at `seq` (null when there is none). */
  messageAt(partition: number, seq: number): Promise<StoredMsg | null> {
    const name = this.streamName(partition);
    return retried(() => this.#jsm.streams.getMessage(name, { seq }));
  }

  /**
   * Messages `from..to` of a partition, in order, through an ordered consumer (which the client
   * recreates at the right sequence after a failover). A sequence that does not come is a gap.
   */
  async *read(partition: number, from: number, to: number): AsyncGenerator<StreamMessage> {
    if (from > to) return;
    const name = this.streamName(partition);
    let consumer = await this.orderedConsumer(partition, from);
    let next = from;
    let idle = 0;
    while (next <= to) {
      // A fetch that brought nothing may be asking a server that still thinks it leads the stream (right
      // after a SIGSTOP ends, until it steps down): it has nothing more to give, so ask for a new
      // consumer, which the current leader creates, instead of waiting out the whole retry period.
      if (idle > 0) consumer = await this.orderedConsumer(partition, next);
      const batch = await retried(() => consumer.fetch({ max_messages: Math.min(FETCH_BATCH, to - next + 1), expires: 5_000 }));
      let got = 0;
      for await (const m of batch) {
        if (m.seq < next) continue;
        if (m.seq !== next) throw new RuntimeError(ErrorCodes.CorruptLog, `the log of record has a gap: stream ${name} went from seq ${next - 1} to ${m.seq}`, { where: `${name}#${next}` });
        got++;
        next++;
        yield streamMessage(m);
        if (next > to) break;
      }
      idle = got === 0 ? idle + 1 : 0;
      if (idle * 5_000 >= RETRY_FOR_MS) throw new RuntimeError(ErrorCodes.StorageFailed, `catching up from stream ${name}: no message ${next} of ${to} came within ${RETRY_FOR_MS} ms`, { outcome: 'not-applied' }, true);
    }
  }
}

export function streamName(log: string, partition: number): string {
  return `EVT_${log}_P${partition}`;
}

/** The refusal of a publish whose expected last sequence did not hold: another writer appended. */
export function isWrongLastSequence(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === WRONG_LAST_SEQUENCE;
}

/** What a failed request said, for messages. */
export function reasonOf(err: unknown): string {
  return String((err as Error | null)?.message ?? err).slice(0, 300);
}

async function infoOrNull(jsm: JetStreamManager, name: string) {
  try {
    return await jsm.streams.info(name);
  } catch (err) {
    if ((err as { code?: unknown }).code === 10059 || /stream not found/i.test(reasonOf(err))) return null;
    throw err;
  }
}

/**
 * Failures that say "not now" rather than "no": the server or the stream's leader is gone for a moment
 * (a node died, the client reconnects, a leader is being elected). Never a refusal of the request.
 */
function isTransient(err: unknown): boolean {
  if (isWrongLastSequence(err)) return false;
  const name = (err as { name?: unknown } | null)?.name;
  if (name === 'TimeoutError' || name === 'NoResponders' || name === 'RequestError' || name === 'JetStreamNotEnabled' || name === 'ConnectionError') return true;
  const status = (err as { status?: unknown } | null)?.status;
  if (status === 503 || status === 408) return true;
  return /timeout|timed out|not enabled|temporarily unavailable|no responders|no suitable peers|offline|leader|disconnect|reconnect/i.test(reasonOf(err));
}

/** Runs `request`, again after a transient failure, until RETRY_FOR_MS have passed. */
async function retried<T>(request: () => Promise<T>): Promise<T> {
  const until = performance.now() + RETRY_FOR_MS;
  let pause = 50;
  for (;;) {
    try {
      return await request();
    } catch (err) {
      if (!isTransient(err) || performance.now() + pause > until) throw err;
      await new Promise((r) => setTimeout(r, pause));
      pause = Math.min(pause * 2, 1_000);
    }
  }
}
