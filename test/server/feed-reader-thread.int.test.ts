/**
 * The feed's reader thread (chunk-reader-thread.ts) against a real data dir: reads made while it starts go
 * to the main thread (a client's first catch-up does not wait for the thread), and once it is up it reads
 * the same chunks itself.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createEventide, type Eventide } from '../../src/app/index.js';
import { InlineChunkReader, type ChunkReader } from '../../src/server/feed/chunk-reader.js';
import { ThreadChunkReader } from '../../src/server/feed/chunk-reader-thread.js';
import { writeAccounts } from '../support/feed-recorder.js';
import { tempDir } from './helpers.js';

let done: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const d of done.reverse()) await d();
  done = [];
});

/** A reader on this thread that counts the reads it was given. */
function countingInline(log: ConstructorParameters<typeof InlineChunkReader>[0]): ChunkReader & { reads: number } {
  const inline = new InlineChunkReader(log);
  const r = {
    reads: 0,
    onThread: false,
    start: () => undefined,
    read: (p: number, from: number, to: number) => {
      r.reads++;
      return inline.read(p, from, to);
    },
    close: () => inline.close(),
  };
  return r;
}

describe('the feed reader thread', () => {
  it('reads on the main thread while it starts, then on its own, the same chunks', async () => {
    const tmp = tempDir();
    done.push(() => tmp.remove());
    const eventide: Eventide = await createEventide({ dataDir: tmp.dir, partitions: 4, workers: 1 });
    done.push(() => eventide.close());
    await writeAccounts(eventide.runtime, 'r', 20);
    const { runtime } = eventide;
    const fallback = countingInline(runtime.log);
    const reader = new ThreadChunkReader({ dataDir: runtime.dataDir!, partitions: runtime.partitionCount, domainModules: runtime.domainModules }, fallback);
    done.push(() => reader.close());

    // Asked before the thread can have opened the log (it starts on this call): the main thread answers.
    const early = await reader.read(0, 0, runtime.partitions()[0]!.offset);
    expect(fallback.reads).toBe(1);
    expect(early.end).toBe(runtime.partitions()[0]!.offset);

    await expect.poll(() => reader.onThread).toBe(true);
    const late = await reader.read(0, 0, runtime.partitions()[0]!.offset);
    expect(fallback.reads).toBe(1);
    expect(Buffer.from(late.body).equals(Buffer.from(early.body))).toBe(true);
    expect([late.first, late.end]).toEqual([early.first, early.end]);
  });
});
