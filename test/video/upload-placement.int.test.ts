/**
 * Where an upload goes in cluster mode (pipeline.ts header): the pipeline on a runtime that is a cluster
 * node gives a new video an id whose partition this node serves; with none served it refuses at once
 * (503 `NotOwner`, nothing read or kept); when the partition moved during the upload, the log's refusal
 * is the answer and nothing is kept. The runtime here is a stand-in that says which partitions it
 * serves and records the commands it is given (the real one in cluster mode needs NATS: see
 * test/cluster/videos-cluster.e2e.test.ts); ffmpeg is real.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCodes, RuntimeError } from '../../src/kernel/index.js';
import { partitionOf } from '../../src/partition/index.js';
import type { Runtime } from '../../src/runtime/index.js';
import { createVideoPipeline } from '../../src/video/index.js';
import { makeTempDir, removeDir } from '../support/temp-dirs.js';
import { makeClip } from './support/media.js';

const P = 8;

interface Executed {
  id: string;
  type: string;
}

/** A cluster node's runtime as the pipeline sees it: serves `served`, and answers `Upload` with `answer`. */
function clusterRuntime(dataDir: string, served: Set<number>, answer: (id: string) => void): { runtime: Runtime; executed: Executed[] } {
  const executed: Executed[] = [];
  const runtime = {
    dataDir,
    partitionCount: P,
    cluster: { nodeId: 'n1', group: 'g' },
    decider: (type: string) => (type === 'video' ? {} : undefined),
    partitions: () => Array.from({ length: P }, (_, partition) => ({ partition, worker: 0, offset: 0, served: served.has(partition) })),
    subscribe: () => () => undefined,
    log: { iterateStreamIds: () => [], refreshReads: () => undefined },
    execute: (_type: string, id: string, command: { type: string }) => {
      executed.push({ id, type: command.type });
      answer(id);
      return Promise.resolve({ id, type: 'video', version: 1, events: [], state: {} });
    },
  };
  return { runtime: runtime as unknown as Runtime, executed };
}

let dir: string;
let clip: Buffer;

beforeAll(async () => {
  dir = await makeTempDir('upload-placement');
  clip = await readFile(await makeClip(dir, 'clip.mp4', { width: 320, height: 240, seconds: 1 }));
});

afterAll(async () => {
  await removeDir(dir);
});

describe('an upload to a cluster node', () => {
  it('gets an id of a partition the node serves, and is recorded there', async () => {
    const dataDir = join(dir, 'served');
    const { runtime, executed } = clusterRuntime(dataDir, new Set([5]), () => undefined);
    const pipeline = await createVideoPipeline({ runtime });
    try {
      for (let n = 0; n < 5; n++) {
        const r = await pipeline.upload(Readable.from([clip]));
        expect(partitionOf(r.id, P)).toBe(5);
      }
      expect(executed.map((e) => e.type)).toEqual(['Upload', 'Upload', 'Upload', 'Upload', 'Upload']);
      expect(executed.every((e) => partitionOf(e.id, P) === 5)).toBe(true);
    } finally {
      await pipeline.close();
    }
  });

  it('is refused with NotOwner, before a byte is kept, while the node serves no partition', async () => {
    const dataDir = join(dir, 'none');
    const { runtime, executed } = clusterRuntime(dataDir, new Set(), () => undefined);
    const pipeline = await createVideoPipeline({ runtime });
    try {
      const body = Readable.from([clip]);
      const err = await pipeline.upload(body).catch((e: unknown) => e);
      expect(RuntimeError.is(err, ErrorCodes.NotOwner)).toBe(true);
      expect((err as RuntimeError).retriable).toBe(true);
      expect((err as RuntimeError).details.retryAfterMs).toBeGreaterThan(0);
      expect(body.destroyed).toBe(true);
      expect(executed).toEqual([]);
      expect(existsSync(join(dataDir, 'videos'))).toBe(false);
    } finally {
      await pipeline.close();
    }
  });

  it('keeps nothing when the partition moved during the upload (the log refused it)', async () => {
    const dataDir = join(dir, 'moved');
    const { runtime, executed } = clusterRuntime(dataDir, new Set([2]), (id) => {
      throw new RuntimeError(ErrorCodes.NotOwner, `partition ${partitionOf(id, P)} is not served by this node`, { partition: partitionOf(id, P), retryAfterMs: 500 }, true);
    });
    const pipeline = await createVideoPipeline({ runtime });
    try {
      const err = await pipeline.upload(Readable.from([clip])).catch((e: unknown) => e);
      expect(RuntimeError.is(err, ErrorCodes.NotOwner)).toBe(true);
      expect(executed).toHaveLength(1);
      expect(await readdir(join(dataDir, 'videos'))).toEqual([]);
      expect(pipeline.stats().queued).toBe(0);
    } finally {
      await pipeline.close();
    }
  });
});
