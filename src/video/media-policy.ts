/**
 * What the pipeline accepts and how it encodes: pure functions, no I/O, so the security rules can be
 * read and tested in one place.
 *
 * Security (DESIGN "Pitfalls"): an uploaded file is hostile until probed. ffmpeg's demuxers can follow
 * references to other files or URLs (an HLS playlist or a concat script names other inputs), so:
 * - every ffprobe/ffmpeg run reads with `-protocol_whitelist file` and `-format_whitelist` limited to
 *   the container demuxers below: a playlist, concat script, image sequence or device never opens;
 * - after probing, the container, the video codec and the audio codec must each be on an allow-list,
 *   and ffmpeg is then told the demuxer explicitly (`-f mov`), so it cannot pick another one;
 * - streams are mapped by the index ffprobe reported: only the chosen video and audio streams are
 *   decoded; subtitles, data and attachments are never opened;
 * - every argument is built here from numbers and constants; paths are server-made (storage.ts).
 *
 * Encode cost (the probe's word is not enough: a header can lie about the duration, and an H.264
 * stream can switch to a huge frame size after the part ffprobe looked at), so ffmpeg enforces:
 * - `-t` on the input at the probed duration plus a margin (`encodeLimitSec`): a 600 s stream whose
 *   header says 1 s is read for 6 s, not 600;
 * - `-frames:v` at that time times `MAX_FRAME_RATE` (timestamps can lie too: frames squeezed into a
 *   short time pass `-t`, never the frame count);
 * - `-max_pixels` on the decoder: it checks every frame's size, mid-stream too (ffmpeg-process.ts
 *   fails the job as soon as ffmpeg reports a frame over it);
 * - a wall clock per job (`jobTimeoutMs`) and a memory limit per process (ffmpeg-process.ts).
 *
 * Gotchas:
 * - Every option and its value are separate strings, and the list goes to `spawn` as argv (no shell,
 *   ffmpeg-process.ts): an option string with a space in it would reach ffmpeg as one argument.
 * - The rendition ladder only goes down: a 1080p source gets 240/360/720, a 300p source only 240,
 *   and a source shorter than the smallest rung still gets that one rung (upscaled) so every video
 *   that succeeds has at least one playable rendition.
 */
import { ErrorCodes, RuntimeError } from '../kernel/index.js';

/** Container demuxers ffmpeg may use, keyed by the `format_name` ffprobe reports. */
const CONTAINERS: Readonly<Record<string, string>> = {
  'mov,mp4,m4a,3gp,3g2,mj2': 'mov',
  'matroska,webm': 'matroska',
  avi: 'avi',
  mpegts: 'mpegts',
  flv: 'flv',
};
/** Passed as `-format_whitelist` to ffprobe and ffmpeg (demuxer names, as libavformat matches them). */
export const FORMAT_WHITELIST = 'mov,matroska,webm,avi,mpegts,flv';

export const VIDEO_CODECS: ReadonlySet<string> = new Set(['h264', 'hevc', 'vp8', 'vp9', 'av1', 'mpeg4', 'mpeg2video', 'mpeg1video', 'prores', 'theora']);
export const AUDIO_CODECS: ReadonlySet<string> = new Set(['aac', 'mp3', 'mp2', 'opus', 'vorbis', 'ac3', 'eac3', 'flac', 'alac', 'pcm_s16le', 'pcm_s24le', 'pcm_f32le']);

export const DEFAULT_LADDER: readonly number[] = [240, 360, 720];
export const X264_PRESETS = ['ultrafast', 'superfast', 'veryfast', 'faster', 'fast', 'medium', 'slow', 'slower', 'veryslow'] as const;
export type X264Preset = (typeof X264_PRESETS)[number];

const MAX_DIMENSION = 8192;
/** Frames per second a source may have; also the rate behind the `-frames:v` cap. */
export const MAX_FRAME_RATE = 240;

export interface EncodeSettings {
  /** Rendition heights to produce (at most those <= the source height; at least the smallest). */
  ladder: readonly number[];
  preset: X264Preset;
  /** x264 constant rate factor, 0-51 (23 is x264's default; lower is better and bigger). */
  crf: number;
  /** Sources longer than this are refused (seconds). */
  maxDurationSec: number;
  /** Largest frame (width x height) probed or decoded; ffmpeg's `-max_pixels` (default 8192x4320). */
  maxPixels: number;
  /** Address-space limit of each ffmpeg/ffprobe process in bytes (`prlimit --as`); 0: none. */
  maxMemoryBytes: number;
  /** Wall clock of one encode attempt: `jobTimeoutBaseMs` + `jobTimeoutPerVideoSecMs` per second of video. */
  jobTimeoutBaseMs: number;
  jobTimeoutPerVideoSecMs: number;
}

export const DEFAULT_ENCODE_SETTINGS: EncodeSettings = {
  ladder: DEFAULT_LADDER,
  preset: 'veryfast',
  crf: 23,
  maxDurationSec: 6 * 3600,
  maxPixels: 8192 * 4320,
  // A 4K source encoded to 720p needs about 0.5 GiB of address space with two threads; x264 and the
  // decoders reserve more per thread on bigger machines (measured in the Encode limits docs).
  maxMemoryBytes: 2 * 1024 ** 3,
  jobTimeoutBaseMs: 120_000,
  // 20 s of wall clock per second of video for every rendition together: generous for veryfast on a
  // busy machine, and still a bound a crafted file cannot stretch (the duration is capped by `-t`).
  jobTimeoutPerVideoSecMs: 20_000,
};

/** The probed facts an encode needs. */
export interface SourceInfo {
  demuxer: string;
  durationSec: number;
  /** Displayed size (after rotation). */
  width: number;
  height: number;
  videoStream: number;
  videoCodec: string;
  audioStream: number | null;
  audioCodec: string | null;
}

export type Assessment = { ok: true; source: SourceInfo } | { ok: false; reason: string };

interface ProbeStream {
  index?: unknown;
  codec_type?: unknown;
  codec_name?: unknown;
  width?: unknown;
  height?: unknown;
  duration?: unknown;
  avg_frame_rate?: unknown;
  tags?: { rotate?: unknown } | null;
  side_data_list?: Array<{ rotation?: unknown }> | null;
  disposition?: { attached_pic?: unknown } | null;
}

/** Checks `ffprobe -print_format json -show_format -show_streams` output against the allow-lists. */
export function assessProbe(
  probe: unknown,
  maxDurationSec = DEFAULT_ENCODE_SETTINGS.maxDurationSec,
  maxPixels = DEFAULT_ENCODE_SETTINGS.maxPixels,
): Assessment {
  const p = (probe ?? {}) as { format?: { format_name?: unknown; duration?: unknown }; streams?: unknown };
  const formatName = typeof p.format?.format_name === 'string' ? p.format.format_name : '';
  const demuxer = CONTAINERS[formatName];
  if (!demuxer) return reject(`unsupported container ${JSON.stringify(formatName.slice(0, 60) || 'unknown')}; accepted: MP4/MOV, Matroska/WebM, AVI, MPEG-TS, FLV`);
  const streams = (Array.isArray(p.streams) ? p.streams : []) as ProbeStream[];
  const video = streams.find((s) => s.codec_type === 'video' && s.disposition?.attached_pic !== 1);
  if (!video) return reject('the file has no video stream');
  const videoCodec = String(video.codec_name ?? 'unknown');
  if (!VIDEO_CODECS.has(videoCodec)) return reject(`unsupported video codec ${JSON.stringify(videoCodec.slice(0, 40))}`);
  const audio = streams.find((s) => s.codec_type === 'audio');
  const audioCodec = audio ? String(audio.codec_name ?? 'unknown') : null;
  if (audioCodec !== null && !AUDIO_CODECS.has(audioCodec)) return reject(`unsupported audio codec ${JSON.stringify(audioCodec.slice(0, 40))}`);
  const w = Number(video.width);
  const h = Number(video.height);
  if (!Number.isInteger(w) || !Number.isInteger(h) || w < 16 || h < 16 || w > MAX_DIMENSION || h > MAX_DIMENSION) {
    return reject(`unsupported frame size ${String(video.width)}x${String(video.height)} (16 to ${MAX_DIMENSION} pixels a side)`);
  }
  if (w * h > maxPixels) return reject(`the frame size ${w}x${h} exceeds the limit of ${maxPixels} pixels`);
  const fps = frameRate(video.avg_frame_rate);
  if (fps > MAX_FRAME_RATE) return reject(`the frame rate ${Math.round(fps)} fps exceeds the limit of ${MAX_FRAME_RATE} fps`);
  const duration = Number(p.format?.duration ?? video.duration);
  if (!Number.isFinite(duration) || duration <= 0) return reject('the file has no known duration');
  if (duration > maxDurationSec) return reject(`the video lasts ${Math.round(duration)} s; the limit is ${maxDurationSec} s`);
  const quarterTurn = Math.abs(rotationOf(video)) % 180 === 90;
  const videoStream = Number(video.index);
  const audioStream = audio ? Number(audio.index) : null;
  if (!Number.isInteger(videoStream) || (audioStream !== null && !Number.isInteger(audioStream))) return reject('ffprobe reported no stream index');
  return {
    ok: true,
    source: { demuxer, durationSec: duration, width: quarterTurn ? h : w, height: quarterTurn ? w : h, videoStream, videoCodec, audioStream, audioCodec },
  };
}

/** "30000/1001" -> 29.97; unknown ("0/0", absent) -> 0. */
function frameRate(r: unknown): number {
  const m = typeof r === 'string' ? /^(\d+)\/(\d+)$/.exec(r) : null;
  const v = m && Number(m[2]) > 0 ? Number(m[1]) / Number(m[2]) : 0;
  return Number.isFinite(v) ? v : 0;
}

function rotationOf(s: ProbeStream): number {
  const fromSide = s.side_data_list?.find((d) => d.rotation !== undefined)?.rotation;
  const r = Number(fromSide ?? s.tags?.rotate ?? 0);
  return Number.isFinite(r) ? Math.round(r) : 0;
}

function reject(reason: string): Assessment {
  return { ok: false, reason };
}

/** Heights to encode for a source: every rung <= the source height, or the smallest rung alone. */
export function renditionHeights(sourceHeight: number, ladder: readonly number[] = DEFAULT_LADDER): number[] {
  const sorted = [...new Set(ladder)].sort((a, b) => a - b);
  const fit = sorted.filter((h) => h <= sourceHeight);
  return fit.length > 0 ? fit : sorted.slice(0, 1);
}

/** Input options for every ffmpeg/ffprobe read of an upload (see the module header). */
export function safeInputArgs(demuxer?: string): string[] {
  return ['-protocol_whitelist', 'file', '-format_whitelist', FORMAT_WHITELIST, ...(demuxer ? ['-f', demuxer] : [])];
}

export function probeArgs(sourcePath: string, maxPixels = DEFAULT_ENCODE_SETTINGS.maxPixels): string[] {
  return ['-v', 'error', '-max_pixels', String(maxPixels), ...safeInputArgs(), '-print_format', 'json', '-show_format', '-show_streams', '-i', sourcePath];
}

/**
 * Seconds of the source an encode may read: the probed duration plus a margin (5 s or 5 %, the larger)
 * for honest files whose header rounds down. Whatever a stream holds beyond it is never decoded.
 */
export function encodeLimitSec(durationSec: number): number {
  return Math.ceil((durationSec + Math.max(5, durationSec * 0.05)) * 1000) / 1000;
}

/** Input options of every ffmpeg read of a probed source (see the module header). */
export function encodeInputArgs(source: SourceInfo, settings: Pick<EncodeSettings, 'maxPixels'>): string[] {
  return ['-max_pixels', String(settings.maxPixels), '-t', String(encodeLimitSec(source.durationSec)), ...safeInputArgs(source.demuxer)];
}

/** The wall clock one encode attempt of `source` gets, all renditions and the thumbnail together. */
export function jobTimeoutMs(source: SourceInfo, settings: Pick<EncodeSettings, 'jobTimeoutBaseMs' | 'jobTimeoutPerVideoSecMs'>): number {
  return Math.ceil(settings.jobTimeoutBaseMs + settings.jobTimeoutPerVideoSecMs * encodeLimitSec(source.durationSec));
}

/** Output options of one H.264/AAC MP4 rendition (the output path is added by the caller). */
export function renditionOutputArgs(source: SourceInfo, height: number, settings: Pick<EncodeSettings, 'preset' | 'crf'>): string[] {
  const audioKbps = height <= 360 ? 96 : 128;
  // Cap the bitrate for players on slow links (about 0.5 / 0.9 / 3 Mb/s at 240 / 360 / 720p); crf
  // decides quality below the cap.
  const maxKbps = Math.round(height * height * 0.0055 + 200);
  return [
    '-map', `0:${source.videoStream}`,
    ...(source.audioStream !== null ? ['-map', `0:${source.audioStream}`] : []),
    '-sn', '-dn', '-map_metadata', '-1',
    '-vf', `scale=-2:${height},format=yuv420p`,
    '-c:v', 'libx264', '-preset', settings.preset, '-crf', String(settings.crf),
    '-maxrate', `${maxKbps}k`, '-bufsize', `${maxKbps * 2}k`,
    ...(source.audioStream !== null ? ['-c:a', 'aac', '-b:a', `${audioKbps}k`, '-ac', '2'] : ['-an']),
    '-frames:v', String(Math.ceil(encodeLimitSec(source.durationSec) * MAX_FRAME_RATE)),
    '-movflags', '+faststart',
    '-f', 'mp4',
  ];
}

/** Where the thumbnail is taken: a second in, or a third of the way through a shorter clip. */
export function thumbnailSeekSec(source: SourceInfo): number {
  return Math.round(Math.min(1, source.durationSec / 3) * 1000) / 1000;
}

export function thumbnailOutputArgs(source: SourceInfo, height: number): string[] {
  return ['-map', `0:${source.videoStream}`, '-an', '-sn', '-dn', '-frames:v', '1', '-vf', `scale=-2:${height}`, '-q:v', '4', '-f', 'mjpeg'];
}

const invalidOptions = (message: string): RuntimeError => new RuntimeError(ErrorCodes.InvalidOptions, message);

/** Validates and fills encode settings once, at start-up. */
export function resolveEncodeSettings(s: Partial<EncodeSettings> = {}): EncodeSettings {
  const ladder = s.ladder ?? DEFAULT_ENCODE_SETTINGS.ladder;
  if (ladder.length === 0 || ladder.some((h) => !Number.isInteger(h) || h < 16 || h > 4320 || h % 2 !== 0)) {
    throw invalidOptions(`ladder must be a non-empty list of even heights in [16, 4320], got ${JSON.stringify(ladder)}`);
  }
  const preset = s.preset ?? DEFAULT_ENCODE_SETTINGS.preset;
  if (!X264_PRESETS.includes(preset)) throw invalidOptions(`preset must be one of ${X264_PRESETS.join(', ')}`);
  const crf = s.crf ?? DEFAULT_ENCODE_SETTINGS.crf;
  if (!Number.isInteger(crf) || crf < 0 || crf > 51) throw invalidOptions(`crf must be an integer in [0, 51], got ${crf}`);
  const maxDurationSec = s.maxDurationSec ?? DEFAULT_ENCODE_SETTINGS.maxDurationSec;
  if (!(maxDurationSec > 0)) throw invalidOptions('maxDurationSec must be positive');
  const int = (name: keyof EncodeSettings, min: number): number => {
    const v = (s[name] ?? DEFAULT_ENCODE_SETTINGS[name]) as number;
    if (!Number.isSafeInteger(v) || v < min) throw invalidOptions(`${name} must be an integer >= ${min}, got ${v}`);
    return v;
  };
  return {
    ladder: [...ladder],
    preset,
    crf,
    maxDurationSec,
    maxPixels: int('maxPixels', 16 * 16),
    maxMemoryBytes: int('maxMemoryBytes', 0),
    jobTimeoutBaseMs: int('jobTimeoutBaseMs', 100),
    jobTimeoutPerVideoSecMs: int('jobTimeoutPerVideoSecMs', 0),
  };
}
