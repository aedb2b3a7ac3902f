/**
 * kill -9 during an encode: a child process runs the runtime and the reactor; the test SIGKILLs it while
 * attempt 1 is certainly mid-encode (the gated ffmpeg has started and written a half-written output),
 * then restarts it with a working ffmpeg. The log alone says what to resume: attempt 2 starts and
 * succeeds, the half-written output is never recorded, and every recorded rendition exists with its
 * recorded size. The ffmpeg the dead process left behind is killed by the restarted one.
 */
import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRuntime } from '../../src/runtime/index.js';
import type { EventEnvelope } from '../../src/kernel/index.js';
import { runTsScript, type ChildRun } from '../support/child-process.js';
import { makeTempDir, removeDir } from '../support/temp-dirs.js';
import { binaries, decodeErrors, gatedFfmpeg, isRunning, makeClip, probe } from './support/media.js';

const childScript = new URL('./support/pipeline-child.ts', import.meta.url);
type Line = { event?: { type: string; stream: string; seq: number; data: Record<string, unknown> }; uploaded?: string; ready?: boolean; log?: { level: string; msg: string } & Record<string, unknown> };
const parsed = (run: ChildRun): Line[] => run.lines.map((l) => JSON.parse(l) as Line);

/** Resolves once a stdout line matches (the child's exit rejects it, with its stderr). */
async function waitForLine(run: ChildRun, match: (l: Line) => boolean): Promise<Line> {
  for (let n = 1; ; n++) {
    await run.waitForLines(n);
    const line = JSON.parse(run.lines[n - 1]!) as Line;
    if (match(line)) return line;
  }
}

let dir: string;
let orphanPid = 0;

beforeAll(async () => {
  dir = await makeTempDir('crash');
});

afterAll(async () => {
  if (orphanPid && (await isRunning(orphanPid))) process.kill(orphanPid, 'SIGKILL');
  await removeDir(dir);
});

describe('kill -9 during an encode', () => {
  it('resumes from the log after restart with attempt 2 and ends SUCCEEDED with only complete files recorded', async () => {
    const dataDir = join(dir, 'data');
    const clip = await makeClip(dir, 'clip.mp4', { width: 640, height: 360, seconds: 2 });
    const gate = await gatedFfmpeg(dir);

    // 1. First process: upload, attempt 1 starts, its ffmpeg is mid-encode -> kill -9.
    const first = runTsScript(childScript, [dataDir, gate.path, clip]);
    const id = (await waitForLine(first, (l) => l.uploaded !== undefined)).uploaded!;
    await waitForLine(first, (l) => l.event?.type === 'VideoProcessingStarted');
    orphanPid = await gate.started();
    const partial = join(dataDir, 'videos', id, 'a1', '240p.mp4.partial');
    expect(existsSync(partial)).toBe(true);
    // The pool thread records the pid right after spawning; kill once it has (it is what the restart reaps).
    const pidFile = join(dataDir, 'videos', id, 'a1', 'ffmpeg.pid');
    while (!existsSync(pidFile)) await new Promise((r) => setTimeout(r, 10));
    expect(Number(await readFile(pidFile, 'utf8'))).toBe(orphanPid);
    const before = (await first.kill()).map((l) => JSON.parse(l) as Line);
    expect(before.some((l) => l.event?.type === 'VideoProcessingSucceeded')).toBe(false);
    // The dead process's ffmpeg is still running: nothing kills children on kill -9.
    expect(await isRunning(orphanPid)).toBe(true);

    // 2. Restart with a working ffmpeg: the scan finds PROCESSING attempt 1 with no job -> attempt 2.
    const second = runTsScript(childScript, [dataDir, binaries.ffmpeg]);
    await waitForLine(second, (l) => l.event?.type === 'VideoProcessingSucceeded' || l.event?.type === 'VideoProcessingFailed');
    second.child.kill('SIGTERM');
    expect(await second.exited, second.stderr()).toBe(0);
    // The operator sees the resume in the log: which video, from which state, what comes next.
    expect(parsed(second).map((l) => l.log).filter((l) => l?.msg === 'video resumed after a restart')).toEqual([{ level: 'info', msg: 'video resumed after a restart', id, status: 'PROCESSING', attempt: 1, next: 'start' }]);
    const restarted = parsed(second).flatMap((l) => (l.event ? [l.event] : []));
    expect(restarted[0]).toMatchObject({ type: 'VideoProcessingStarted', data: { attempt: 2 } });
    expect(await isRunning(orphanPid)).toBe(false);

    // 3. The log, read after both processes are gone.
    const runtime = await createRuntime({ dataDir, workers: 1 });
    let events: EventEnvelope[];
    try {
      events = await runtime.history('video', id);
    } finally {
      await runtime.close();
    }
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
    const starts = events.filter((e) => e.type === 'VideoProcessingStarted').map((e) => (e.data as { attempt: number }).attempt);
    expect(starts).toEqual([1, 2]);
    expect(events[events.length - 1]).toMatchObject({ type: 'VideoProcessingSucceeded', data: { attempt: 2 } });
    const renditions = events.filter((e) => e.type === 'RenditionCompleted').map((e) => e.data as { attempt: number; height: number; path: string; bytes: number });
    expect(renditions.map((r) => [r.attempt, r.height])).toEqual([[2, 240], [2, 360]]);
    for (const r of renditions) {
      expect(r.path).not.toMatch(/partial/);
      const file = join(dataDir, r.path);
      expect((await stat(file)).size).toBe(r.bytes);
      expect(await decodeErrors(file)).toBe('');
      expect((await probe(file)).streams.find((s) => s.codec_type === 'video')?.height).toBe(r.height);
    }
    // Attempt 1's directory, with its half-written file, was removed when attempt 2 started.
    expect(existsSync(join(dataDir, 'videos', id, 'a1'))).toBe(false);
    // Two server processes and five encodes on a shared 2-core machine: a guard, not a speed claim.
  }, 180_000);
});
