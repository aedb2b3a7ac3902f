/**
 * Media for the video tests, made by ffmpeg at test time (no binary fixtures): test clips, decode checks,
 * and a "gated" ffmpeg wrapper that blocks inside an encode until told to go on, so a test can act
 * (kill -9, cancel) while an encode is certainly running, with no timing guesses.
 */
import { execFile } from 'node:child_process';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { resolveFfmpegBinaries } from '../../../src/video/index.js';

export const binaries = resolveFfmpegBinaries();

function run(file: string, args: string[]): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { maxBuffer: 16 << 20 }, (err, stdout, stderr) => (err ? reject(Object.assign(err, { stderr })) : resolve({ stdout, stderr })));
  });
}

/** An H.264/AAC MP4 test pattern with a tone: `seconds` long, `width`x`height`. */
export async function makeClip(dir: string, name: string, o: { width: number; height: number; seconds: number }): Promise<string> {
  const out = join(dir, name);
  await run(binaries.ffmpeg, [
    '-v', 'error', '-y',
    '-f', 'lavfi', '-i', `testsrc=duration=${o.seconds}:size=${o.width}x${o.height}:rate=25`,
    '-f', 'lavfi', '-i', `sine=frequency=440:duration=${o.seconds}`,
    '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-shortest', out,
  ]);
  return out;
}

/** What `ffmpeg -v error -i file -f null -` prints: empty when the file decodes cleanly. */
export async function decodeErrors(path: string): Promise<string> {
  const { stderr } = await run(binaries.ffmpeg, ['-v', 'error', '-i', path, '-f', 'null', '-']);
  return stderr.trim();
}

export interface ProbedStream {
  codec_type: string;
  codec_name: string;
  width?: number;
  height?: number;
}

export async function probe(path: string): Promise<{ format: { format_name: string }; streams: ProbedStream[] }> {
  const { stdout } = await run(binaries.ffprobe, ['-v', 'error', '-print_format', 'json', '-show_format', '-show_streams', path]);
  return JSON.parse(stdout) as { format: { format_name: string }; streams: ProbedStream[] };
}

export interface GatedFfmpeg {
  /** Give this as the ffmpeg binary. */
  path: string;
  /** Resolves with the pid of the first blocked encode once it has started and written a partial file. */
  started(): Promise<number>;
}

/**
 * An ffmpeg that behaves normally except for encodes (any command writing a `.partial` output): those
 * write a few bytes to the output (a half-written file), record their pid, and then wait forever.
 * `-version`, `-encoders`, `-formats` pass through to the real binary.
 */
export async function gatedFfmpeg(dir: string): Promise<GatedFfmpeg> {
  const marker = join(dir, 'gated.pid');
  const path = join(dir, 'gated-ffmpeg.sh');
  await writeFile(
    path,
    [
      '#!/bin/sh',
      'case "$*" in',
      '  *.partial*)',
      '    for out; do :; done',
      `    printf 'half-written' > "$out"`,
      `    echo $$ > '${marker}.tmp' && mv '${marker}.tmp' '${marker}'`,
      '    while :; do sleep 0.2; done ;;',
      'esac',
      `exec '${binaries.ffmpeg}' "$@"`,
      '',
    ].join('\n'),
  );
  await chmod(path, 0o755);
  return {
    path,
    async started() {
      // Polls a file the wrapper writes; the test's own timeout is the only limit.
      for (;;) {
        const pid = Number((await readFile(marker, 'utf8').catch(() => '')).trim());
        if (pid > 0) return pid;
        await new Promise((r) => setTimeout(r, 25));
      }
    },
  };
}

/** True while a process exists and is not a zombie (an orphan killed in a container may stay a zombie). */
export async function isRunning(pid: number): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  return state !== '' && state !== 'Z' && state !== 'X';
}

/** Runs the test's own ffmpeg with `args` (every argument made by the test). */
export async function ffmpegMake(args: string[]): Promise<void> {
  await run(binaries.ffmpeg, ['-v', 'error', '-y', ...args]);
}

/**
 * An FLV whose onMetaData says the video lasts `claimedSec` while its stream lasts `seconds`: the
 * header's `duration` (an AMF number: the name, type 0x00, a big-endian double) is rewritten in place.
 * ffprobe believes the header (checked by the caller).
 */
export async function makeLyingFlv(dir: string, name: string, o: { width: number; height: number; seconds: number; claimedSec: number }): Promise<string> {
  const honest = join(dir, `honest-${name}`);
  await ffmpegMake([
    '-f', 'lavfi', '-i', `testsrc=duration=${o.seconds}:size=${o.width}x${o.height}:rate=25`,
    '-f', 'lavfi', '-i', `sine=frequency=440:duration=${o.seconds}`,
    '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-shortest', '-f', 'flv', honest,
  ]);
  const bytes = await readFile(honest);
  const at = bytes.indexOf('duration');
  if (at < 0 || at > 1024 || bytes[at + 8] !== 0) throw new Error('no onMetaData duration number near the start of the FLV');
  bytes.writeDoubleBE(o.claimedSec, at + 9);
  const out = join(dir, name);
  await writeFile(out, bytes);
  return out;
}

/**
 * H.264 whose frame size changes mid-stream: `head` seconds at `from`, then a few frames at `to`, made as
 * two raw Annex B streams, concatenated (the second brings its own SPS), and remuxed into MPEG-TS without
 * re-encoding. ffprobe looks at the start and reports `from`.
 */
export async function makeSizeSwitchingTs(dir: string, name: string, o: { from: [number, number]; to: [number, number]; head: number }): Promise<string> {
  const part = async (file: string, [w, h]: [number, number], frames: number): Promise<Buffer> => {
    const p = join(dir, file);
    await ffmpegMake(['-f', 'lavfi', '-i', `testsrc=size=${w}x${h}:rate=25`, '-frames:v', String(frames), '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-f', 'h264', p]);
    return readFile(p);
  };
  const raw = join(dir, `${name}.h264`);
  await writeFile(raw, Buffer.concat([await part(`${name}-a.h264`, o.from, Math.round(o.head * 25)), await part(`${name}-b.h264`, o.to, 5)]));
  const out = join(dir, name);
  await ffmpegMake(['-f', 'h264', '-framerate', '25', '-i', raw, '-c', 'copy', '-f', 'mpegts', out]);
  return out;
}

/** Seconds of video in a file, as ffprobe counts them from the stream itself. */
export async function streamSeconds(path: string): Promise<number> {
  const { stdout } = await run(binaries.ffprobe, ['-v', 'error', '-select_streams', 'v:0', '-count_packets', '-show_entries', 'stream=nb_read_packets,avg_frame_rate', '-of', 'json', path]);
  const s = (JSON.parse(stdout) as { streams: Array<{ nb_read_packets: string; avg_frame_rate: string }> }).streams[0]!;
  const [n, d] = s.avg_frame_rate.split('/').map(Number) as [number, number];
  return Number(s.nb_read_packets) / (n / d);
}
