/**
 * Encode pool: N short clips through the video pipeline (upload -> VideoUploaded -> reactor -> pool
 * thread -> ffprobe + one ffmpeg per rendition + thumbnail -> events), timed from the first upload to
 * the last SUCCEEDED, vs the same ffprobe/ffmpeg commands (same arguments, from `media-policy`) run
 * directly with the same concurrency. Overhead = pipeline / direct - 1. Per-core busy share over each
 * run comes from /proc/stat (so it includes whatever else runs on the machine). Rounds alternate.
 */
import { execFile } from 'node:child_process';
import { createReadStream, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { measured, notAvailable } from '../figures.js';
import type { Suite } from '../support/context.js';
import { PARTITIONS, startRuntime } from '../support/runtime.js';
import { srcExists, srcModule } from '../support/server.js';
import { median } from '../support/stats.js';
import { makeTempDir, removeTempDir } from '../support/tmp.js';

const run = promisify(execFile);
const THUMBNAIL_HEIGHT = 360; // encode-job.ts

interface SourceInfo {
  height: number;
  durationSec: number;
  demuxer?: string;
}
interface Policy {
  probeArgs(p: string): string[];
  assessProbe(probe: unknown): { ok: true; source: SourceInfo } | { ok: false; reason: string };
  renditionHeights(h: number, ladder?: readonly number[]): number[];
  safeInputArgs(demuxer?: string): string[];
  renditionOutputArgs(s: SourceInfo, h: number, settings: { preset: string; crf: number }): string[];
  thumbnailSeekSec(s: SourceInfo): number;
  thumbnailOutputArgs(s: SourceInfo, h: number): string[];
  DEFAULT_ENCODE_SETTINGS: { ladder: readonly number[]; preset: string; crf: number };
}
interface Video {
  resolveFfmpegBinaries(): { ffmpeg: string; ffprobe: string };
  createVideoPipeline(o: Record<string, unknown>): Promise<{
    upload(body: NodeJS.ReadableStream): Promise<{ id: string }>;
    get(id: string): Promise<{ state: { status: string } }>;
    idle(): Promise<void>;
    close(): Promise<void>;
  }>;
}

const sizes = (quick: boolean, cores: number) =>
  quick ? { clips: 2, seconds: 1, width: 426, height: 240, rounds: 1, jobs: cores } : { clips: 8, seconds: 4, width: 854, height: 480, rounds: 2, jobs: cores };

/** Busy share per core between two /proc/stat readings. */
function cpuTimes(): number[][] {
  return readFileSync('/proc/stat', 'utf8')
    .split('\n')
    .filter((l) => /^cpu\d+ /.test(l))
    .map((l) => l.trim().split(/\s+/).slice(1).map(Number));
}
function busyShare(a: number[][], b: number[][]): number[] {
  return b.map((row, i) => {
    const d = row.map((v, j) => v - (a[i]?.[j] ?? 0));
    const total = d.reduce((x, y) => x + y, 0);
    const idle = (d[3] ?? 0) + (d[4] ?? 0);
    return total > 0 ? 1 - idle / total : 0;
  });
}

async function pool<T>(items: T[], n: number, fn: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: n }, async () => {
    while (next < items.length) await fn(items[next++]!);
  }));
}

export const encodeSuite: Suite = {
  name: 'encode',
  figures: ['encode.overhead'],
  steps: (quick) => 1 + 2 * sizes(quick, 2).rounds,
  async run(ctx) {
    if (!srcExists('video/index') || !srcExists('video/media-policy')) {
      ctx.step('encode pool');
      ctx.figure(notAvailable('encode.overhead', 'not available: src/video (encode pool) does not exist yet'));
      return;
    }
    const s = sizes(ctx.quick, ctx.cores);
    const video = (await import(srcModule('video/index').href)) as Video;
    const policy = (await import(srcModule('video/media-policy').href)) as Policy;
    const bin = video.resolveFfmpegBinaries();
    const work = makeTempDir('encode');
    try {
      ctx.step(`making ${s.clips} clips`);
      const clips: string[] = [];
      for (let i = 0; i < s.clips; i++) {
        const clip = join(work, `clip-${i}.mp4`);
        await run(bin.ffmpeg, [
          '-v', 'error', '-f', 'lavfi', '-i', `testsrc2=size=${s.width}x${s.height}:rate=30`, '-f', 'lavfi', '-i', `sine=frequency=${220 + 40 * i}`,
          '-t', String(s.seconds), '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-shortest', clip,
        ]);
        clips.push(clip);
      }
      const settings = policy.DEFAULT_ENCODE_SETTINGS;
      let outN = 0;
      const direct = async (): Promise<number> => {
        const out = join(work, `direct-${outN++}`);
        mkdirSync(out);
        const t0 = performance.now();
        await pool(clips, s.jobs, async (clip) => {
          const probe = await run(bin.ffprobe, policy.probeArgs(clip), { maxBuffer: 4 << 20 });
          const a = policy.assessProbe(JSON.parse(probe.stdout));
          if (!a.ok) throw new Error(a.reason);
          const heights = policy.renditionHeights(a.source.height, settings.ladder);
          const base = join(out, clip.split('/').pop()!);
          for (const h of heights) {
            await run(bin.ffmpeg, ['-nostdin', ...policy.safeInputArgs(a.source.demuxer), '-i', clip, ...policy.renditionOutputArgs(a.source, h, settings), '-y', `${base}-${h}.mp4`]);
          }
          const th = Math.min(THUMBNAIL_HEIGHT, heights[heights.length - 1] ?? THUMBNAIL_HEIGHT);
          await run(bin.ffmpeg, ['-nostdin', '-ss', String(policy.thumbnailSeekSec(a.source)), ...policy.safeInputArgs(a.source.demuxer), '-i', clip, ...policy.thumbnailOutputArgs(a.source, th), '-y', `${base}.jpg`]);
        });
        return (performance.now() - t0) / 1000;
      };
      const piped = async (): Promise<number> => {
        const dir = join(work, `pipeline-${outN++}`);
        const rt = await startRuntime(dir, { partitions: PARTITIONS });
        const p = await video.createVideoPipeline({ runtime: rt, maxJobs: s.jobs, retryDelayMs: 100 });
        try {
          const t0 = performance.now();
          const ids: string[] = [];
          for (const clip of clips) ids.push((await p.upload(createReadStream(clip))).id);
          for (;;) {
            await p.idle();
            const st = await Promise.all(ids.map((id) => p.get(id).then((r) => r.state.status)));
            if (st.every((x) => x === 'SUCCEEDED')) break;
            if (st.some((x) => x === 'FAILED' || x === 'CANCELLED')) throw new Error(`pipeline: ${st.join(', ')}`);
            await new Promise((r) => setTimeout(r, 20));
          }
          return (performance.now() - t0) / 1000;
        } finally {
          await p.close();
          await rt.close();
        }
      };
      const d: number[] = [];
      const v: number[] = [];
      const busy: number[][] = [];
      for (let r = 0; r < s.rounds; r++) {
        ctx.step(`direct ffmpeg, round ${r + 1}/${s.rounds}`);
        d.push(await direct());
        ctx.step(`pipeline, round ${r + 1}/${s.rounds}`);
        const c0 = cpuTimes();
        v.push(await piped());
        busy.push(busyShare(c0, cpuTimes()));
      }
      const overhead = (median(v) / median(d) - 1) * 100;
      const cores = busy[busy.length - 1]!.map((b) => `${Math.round(b * 100)}%`).join('/');
      const bothBusy = busy[busy.length - 1]!.every((b) => b >= 0.8);
      ctx.figure(
        measured('encode.overhead', {
          value: overhead,
          baseline: { name: 'direct ffmpeg', value: median(d), unit: 's' },
          ratio: median(v) / median(d),
          met: overhead <= 5 && bothBusy,
          note: `${s.clips} clips of ${s.seconds} s ${s.width}x${s.height}${ctx.quick ? ' (quick size)' : ''}, ${s.jobs} jobs at once; pipeline ${median(v).toFixed(2)} s vs direct ${median(d).toFixed(2)} s (median of ${s.rounds}); cores busy during the pipeline run: ${cores}`,
        }),
      );
    } finally {
      removeTempDir(work);
    }
  },
};
