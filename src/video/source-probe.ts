/**
 * ffprobe of a stored upload, checked against the allow-lists (media-policy.ts `assessProbe`). Used by
 * the encode job before it encodes, and by the upload itself, which needs the duration to count the
 * client's queued encode seconds (encode-admission.ts).
 *
 * Gotchas:
 * - ffprobe runs through execFile with a timeout and a bounded stdout (and under the memory limit): a
 *   crafted file must not hang or flood the caller.
 * - A refusal's reason is shown to clients: it goes through `scrubReason` (no server paths; the
 *   execFile error message would otherwise name the ffprobe binary's absolute path).
 */
import type { FfmpegBinaries } from './ffmpeg-binaries.js';
import { lastLines, runFfprobe, scrubReason } from './ffmpeg-process.js';
import { assessProbe, probeArgs, type EncodeSettings, type SourceInfo } from './media-policy.js';

export type ProbeResult =
  | { kind: 'ok'; source: SourceInfo }
  /** `retriable`: false when another attempt would read the same bytes the same way. */
  | { kind: 'refused'; reason: string; retriable: boolean }
  | { kind: 'cancelled' };

export interface ProbeSourceInput {
  binaries: FfmpegBinaries;
  settings: Pick<EncodeSettings, 'maxDurationSec' | 'maxPixels' | 'maxMemoryBytes'>;
  /** Absolute path of the stored upload (server-made). */
  source: string;
  dataDir: string;
  timeoutMs: number;
  signal?: AbortSignal | undefined;
}

export async function probeSource(p: ProbeSourceInput): Promise<ProbeResult> {
  const signal = p.signal ?? new AbortController().signal;
  const clean = (s: string): string => scrubReason(s, p.dataDir, p.binaries);
  let out: string;
  try {
    out = await runFfprobe({ binaries: p.binaries, maxMemoryBytes: p.settings.maxMemoryBytes, args: probeArgs(p.source, p.settings.maxPixels), timeoutMs: p.timeoutMs, signal });
  } catch (err) {
    if (signal.aborted) return { kind: 'cancelled' };
    const e = err as NodeJS.ErrnoException & { killed?: boolean; code?: unknown; signal?: unknown; stderr?: string };
    if (typeof e.code === 'string') return { kind: 'refused', reason: `ffprobe could not start (${e.code})`, retriable: true };
    if (e.killed) return { kind: 'refused', reason: `probing the upload took longer than ${p.timeoutMs} ms`, retriable: false };
    // -max_pixels stops ffprobe too when the header's frame size is over the limit: say it as assessProbe does.
    const big = /Picture size (\d+)x(\d+) exceeds specified max pixel count/.exec(e.stderr ?? '');
    if (big) return { kind: 'refused', reason: `the frame size ${big[1]}x${big[2]} exceeds the limit of ${p.settings.maxPixels} pixels`, retriable: false };
    const why = lastLines(e.stderr ?? '', 1) || (typeof e.signal === 'string' ? `ffprobe died of ${e.signal}` : e.message);
    return { kind: 'refused', reason: `not a video file ffprobe can read: ${clean(why)}`, retriable: false };
  }
  let json: unknown;
  try {
    json = JSON.parse(out);
  } catch {
    return { kind: 'refused', reason: 'ffprobe printed no readable description of the upload', retriable: false };
  }
  const a = assessProbe(json, p.settings.maxDurationSec, p.settings.maxPixels);
  return a.ok ? { kind: 'ok', source: a.source } : { kind: 'refused', reason: a.reason, retriable: false };
}
