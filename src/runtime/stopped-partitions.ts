/**
 * Partitions of this worker stopped on damage (DESIGN invariant 8): a record that fails its checksum
 * stops its partition. Replaying past it could fold a damaged event into state and then write on top of
 * it; so every later command of the partition fails with the same error (naming the record) until an
 * operator repairs the data dir and resumes the partition (actor-host.ts, `resume`).
 */
import { RuntimeError, serializeError } from '../kernel/index.js';
import type { FromWorker } from './protocol.js';

export class StoppedPartitions {
  readonly #stopped = new Map<number, RuntimeError>();
  readonly #send: (m: FromWorker) => void;

  constructor(send: (m: FromWorker) => void) {
    this.#send = send;
  }

  /** How many are stopped (the hot path asks this first: usually none). */
  get size(): number {
    return this.#stopped.size;
  }

  /** The error commands of `partition` get while it is stopped. */
  get(partition: number): RuntimeError | undefined {
    return this.#stopped.get(partition);
  }

  /** Stops the partition (once, telling the main thread) and answers the error its commands now get. */
  stop(partition: number, err: RuntimeError): RuntimeError {
    const already = this.#stopped.get(partition);
    if (already) return already;
    const stopped = new RuntimeError(err.code, `partition ${partition} is stopped: ${err.message}`, { ...err.details, partition });
    this.#stopped.set(partition, stopped);
    this.#send({ kind: 'partition-stopped', partition, error: serializeError(stopped) });
    return stopped;
  }

  /** An operator resumed it: its commands run again. Whether it was stopped. */
  resume(partition: number): boolean {
    return this.#stopped.delete(partition);
  }
}
