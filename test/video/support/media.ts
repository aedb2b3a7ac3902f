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
