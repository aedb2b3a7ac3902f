/**
 * The encoding of the two hot messages (command batches and reply batches) across the thread boundary.
 *
 * Why not plain postMessage objects: structured clone costs ~20-30 us per small reply object on this
 * machine (serialize in one thread, deserialize in the other), more than the command itself. msgpackr
 * with records packs a batch in ~4 us and unpacks it in ~1-2 us per item (see bench/README.md).
 *
 * Gotcha: with `sequential` records, a message may use record structures defined by an EARLIER message
 * of the same encoder. So each direction of each worker channel has its own encoder/decoder pair, and a
 * restarted worker gets a fresh pair on both sides. Never share an encoder between two workers. A pack
 * that throws midway (a value msgpack cannot hold) leaves the encoder out of step with its decoder: the
 * next messages no longer decode. The sender then starts a fresh encoder and says so in its next
 * message, and the receiver starts a fresh decoder for it (actor-host.ts `#sendReplies`).
 */
import { Packr, Unpackr } from 'msgpackr';

// A function, not a shared object: msgpackr stores its `structures` on the options object it is given,
// so a shared object would make every encoder share (and corrupt) one another's record structures.
const options = () => ({ useRecords: true, sequential: true, moreTypes: false });

export interface WireEncoder {
  /** Packs `value` into a standalone Uint8Array whose buffer can be put in a transfer list. */
  pack(value: unknown): Uint8Array<ArrayBuffer>;
}

export interface WireDecoder {
  unpack<T>(bytes: Uint8Array): T;
}

export function createEncoder(): WireEncoder {
  const packr = new Packr(options());
  return { pack: (value) => new Uint8Array(packr.pack(value)) as Uint8Array<ArrayBuffer> };
}

/** Whether `value` can be packed at all (a standalone encoder: a failed try leaves no record structure behind). */
export function canEncode(value: unknown): boolean {
  try {
    new Packr({ useRecords: false, moreTypes: false }).pack(value);
    return true;
  } catch {
    return false;
  }
}

export function createDecoder(): WireDecoder {
  const unpackr = new Unpackr(options());
  return { unpack: <T>(bytes: Uint8Array) => unpackr.unpack(bytes) as T };
}
