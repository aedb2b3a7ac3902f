/**
 * What the JetStream adapter's own tests share: one nats-server (or cluster) per file, a fresh log name
 * per case, cache dirs removed after each case, and every log opened closed after it.
 */
import { afterAll, afterEach, beforeAll, describe, it } from 'vitest';
import { openJetStreamLog, type JetStreamLog, type EventLog, type JetStreamLogOptions } from '../../../src/log/index.js';
import { NATS_MISSING, natsServerAvailable, startNats, type NatsCluster } from '../../support/nats-servers.js';
import { useTempDirs } from '../../support/temp-dirs.js';

export interface JetStreamFixture {
  /** The servers (valid inside cases). */
  readonly nats: NatsCluster;
  /** A log name no other case uses. */
  newName(): string;
  /** Opens a JetStreamLog on the file's servers with a new cache dir unless one is given (closed after the case). */
  open(name: string, options?: Partial<JetStreamLogOptions>): Promise<JetStreamLog>;
  /** A new temp dir (removed after the case). */
  tempDir(): Promise<string>;
}

/** Declares `body`'s cases against `size` nats-servers, or one skipped case saying why when there is no nats-server. */
export function describeOnNats(title: string, size: 1 | 3, body: (fx: JetStreamFixture) => void): void {
  if (!natsServerAvailable()) {
    describe(title, () => it.skip(NATS_MISSING, () => undefined));
    return;
  }
  describe(title, () => {
    let nats: NatsCluster | undefined;
    let names = 0;
    const opened: EventLog[] = [];
    const tempDir = useTempDirs('js-log');
    beforeAll(async () => {
      nats = await startNats(size);
    }, 60_000);
    afterAll(async () => {
      await nats?.stop();
    });
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((log) => log.close().catch(() => undefined)));
    });
    body({
      get nats() {
        return nats!;
      },
      newName: () => `t${process.pid}_${++names}`,
      async open(name, options = {}) {
        const log = await openJetStreamLog({ servers: nats!.urls, name, localDir: options.localDir ?? (await tempDir()), ...options });
        opened.push(log);
        return log;
      },
      tempDir,
    });
  });
}

/** Every event of every partition, as `stream#seq@offset`, partition by partition. */
export function partitionsOf(log: EventLog): string[][] {
  log.refreshReads();
  return Array.from({ length: log.partitions }, (_, p) => log.readPartition(p, 0, Number.MAX_SAFE_INTEGER).map((e) => `${e.stream}#${e.seq}@${e.offset}`));
}
