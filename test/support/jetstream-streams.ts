/**
 * An operator's mistake and its repair, on a partition stream of the JetStream log: the stream deleted
 * (`takeStreamAway`, which keeps its config and every message first) and re-created as it was
 * (`restoreStream`: the same config, the same messages with their headers, so at the same sequences).
 * For the tests of what a node does while a followed partition's stream is gone.
 */
import { headers as natsHeaders } from '@nats-io/transport-node';
import type { JetStreamManager, StreamConfig } from '@nats-io/jetstream';

export interface SavedStream {
  config: StreamConfig;
  messages: { subject: string; data: Uint8Array; headers: [string, string[]][] }[];
}

export async function takeStreamAway(jsm: JetStreamManager, stream: string): Promise<SavedStream> {
  const info = await jsm.streams.info(stream);
  const messages: SavedStream['messages'] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
    const m = await jsm.streams.getMessage(stream, { seq });
    if (m === null) throw new Error(`${stream} has no message ${seq}: a hole cannot be restored`);
    messages.push({ subject: m.subject, data: m.data, headers: m.header ? [...m.header].map(([k, v]) => [k, v]) : [] });
  }
  await jsm.streams.delete(stream);
  return { config: info.config, messages };
}

/** Re-creates the stream and publishes its messages again, in order, each conditional on the one before (same sequences). */
export async function restoreStream(jsm: JetStreamManager, saved: SavedStream): Promise<void> {
  await jsm.streams.add(saved.config);
  const js = jsm.jetstream();
  for (const [i, m] of saved.messages.entries()) {
    const h = natsHeaders();
    for (const [k, values] of m.headers) for (const v of values) h.append(k, v);
    const ack = await js.publish(m.subject, m.data, { headers: h, expect: { lastSequence: i } });
    if (ack.seq !== i + 1) throw new Error(`restored message ${i + 1} landed at ${ack.seq}`);
  }
}
