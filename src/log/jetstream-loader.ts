/**
 * `openJetStreamLog`: the JetStream adapter behind a dynamic import, so that importing the log (every
 * thread of the embedded runtime does) does not load the NATS client; only cluster mode pays for it.
 */
import type { JetStreamLog, JetStreamLogOptions } from './jetstream/index.js';

/** `JetStreamLog.open` (jetstream/jetstream-log.ts): opens log `name` and catches its local cache up. */
export async function openJetStreamLog(options: JetStreamLogOptions): Promise<JetStreamLog> {
  const { JetStreamLog: Log } = await import('./jetstream/index.js');
  return Log.open(options);
}
