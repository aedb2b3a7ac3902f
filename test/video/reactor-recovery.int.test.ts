/**
 * What the reactor does from the log alone, in-process: videos found by the start-up scan, retriable
 * failures retried up to the limit, attempts that never finished, and sources it must not open.
 */
import { copyFile, chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { VideoState } from '../../src/domain/index.js';
import { createRuntime, type Runtime } from '../../src/runtime/index.js';
import { createVideoPipeline, type VideoPipeline } from '../../src/video/index.js';
import { makeTempDir, removeDir } from '../support/temp-dirs.js';
import { binaries, makeClip } from './support/media.js';

// One runtime for the file (each test uses its own video ids); each test starts its own pipeline on it,
// as a restarted server would.
let dir: string;
let dataDir: string;
let runtime: Runtime;
let clip: string;
const pipelines: VideoPipeline[] = [];

beforeAll(async () => {
  dir = await makeTempDir('reactor');
  dataDir = join(dir, 'data');
  runtime = await createRuntime({ dataDir, partitions: 2, workers: 1 });
  clip = await makeClip(dir, 'c.mp4', { width: 320, height: 240, seconds: 1 });
});

afterEach(async () => {
  for (const p of pipelines.splice(0)) await p.close();
});

afterAll(async () => {
  await runtime?.close();
  await removeDir(dir);
});

async function pipelineFor(patch: Partial<Parameters<typeof createVideoPipeline>[0]> = {}): Promise<VideoPipeline> {
  const p = await createVideoPipeline({ runtime, retryDelayMs: 0, encode: { preset: 'ultrafast' }, ...patch });
  pipelines.push(p);
  return p;
}

/** Puts a clip where an upload of `id` would be and records VideoUploaded, without any pipeline. */
async function uploadedWithoutPipeline(id: string): Promise<void> {
  await mkdir(join(dataDir, 'videos', id), { recursive: true });
  await copyFile(clip, join(dataDir, 'videos', id, 'source'));
  await runtime.execute('video', id, { type: 'Upload', data: { path: `videos/${id}/source`, bytes: 1, sha256: 'a'.repeat(64) } });
}

describe('the reactor resumes what the log says is unfinished', () => {
  it('processes videos uploaded while no pipeline ran (found by the start-up scan)', async () => {
    await uploadedWithoutPipeline('v-early-1');
    await uploadedWithoutPipeline('v-early-2');
    const p = await pipelineFor();
    await p.idle();
    for (const id of ['v-early-1', 'v-early-2']) expect((await runtime.load<VideoState>('video', id)).state.status).toBe('SUCCEEDED');
  });

  it('gives up on a video whose last allowed attempt never finished, saying why', async () => {
    await runtime.execute('video', 'v-stuck', { type: 'Upload', data: { path: 'videos/v-stuck/source', bytes: 1, sha256: 'a'.repeat(64) } });
    for (const attempt of [1, 2, 3]) await runtime.execute('video', 'v-stuck', { type: 'StartProcessing', data: { attempt } });
    const p = await pipelineFor({ maxAttempts: 3 });
    await p.idle();
    const { state } = await runtime.load<VideoState>('video', 'v-stuck');
    expect(state).toMatchObject({ status: 'FAILED', attempt: 3, error: { retriable: false, reason: expect.stringMatching(/never finished/) } });
  });

  it('retries a retriable failure up to the limit, and the last failure says it gave up (retriable: false)', async () => {
    const failing = join(dir, 'failing-ffmpeg.sh');
    // Works for the start-up check and probing, fails every encode (as a full disk would).
    await writeFile(failing, `#!/bin/sh\ncase "$*" in *.partial*) echo 'No space left on device' >&2; exit 1 ;; esac\nexec '${binaries.ffmpeg}' "$@"\n`);
    await chmod(failing, 0o755);
    const p = await pipelineFor({ maxAttempts: 3, binaries: { ...binaries, ffmpeg: failing } });
    await uploadedWithoutPipeline('v-flaky');
    await p.idle();
    const events = await runtime.history('video', 'v-flaky');
    const failures = events.filter((e) => e.type === 'VideoProcessingFailed').map((e) => e.data as { attempt: number; retriable: boolean; reason: string });
    expect(failures.map((f) => [f.attempt, f.retriable])).toEqual([[1, true], [2, true], [3, false]]);
    expect(failures[2]!.reason).toMatch(/encoding the 240p rendition failed.*\(attempt 3 of 3; giving up\)/);
    expect(events.filter((e) => e.type === 'VideoProcessingStarted')).toHaveLength(3);
  });

  it('never opens a source the server did not store (a path set through the generic command API)', async () => {
    const p = await pipelineFor();
    await runtime.execute('video', 'v-sneaky', { type: 'Upload', data: { path: 'videos/v-other/source', bytes: 1, sha256: 'a'.repeat(64) } });
    await runtime.execute('video', 'odd:id', { type: 'Upload', data: { path: 'videos/x/source', bytes: 1, sha256: 'a'.repeat(64) } });
    await p.idle();
    for (const id of ['v-sneaky', 'odd:id']) {
      const { state } = await runtime.load<VideoState>('video', id);
      expect(state, id).toMatchObject({ status: 'FAILED', error: { retriable: false, reason: expect.stringMatching(/not stored by this server/) } });
    }
  });
});
