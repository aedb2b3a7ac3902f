import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveFfmpegBinaries, verifyFfmpegBinaries } from '../../src/video/index.js';
import { useTempDirs } from '../support/temp-dirs.js';

const tempDir = useTempDirs('ffbin');

async function exe(path: string, text: string): Promise<void> {
  await writeFile(path, text);
  await chmod(path, 0o755);
}

/** A directory with an `ffmpeg` and an `ffprobe` (scripts; never run here). */
async function fakeBuild(dir: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  await exe(join(dir, 'ffmpeg'), '#!/bin/sh\n');
  await exe(join(dir, 'ffprobe'), '#!/bin/sh\n');
  return dir;
}

describe('ffmpeg and ffprobe binaries', () => {
  it('FFMPEG_PATH / FFPROBE_PATH win; with FFMPEG_PATH alone, ffprobe is the one beside it (the same build)', async () => {
    expect(resolveFfmpegBinaries({ FFMPEG_PATH: '/opt/ff/ffmpeg', FFPROBE_PATH: '/opt/ff/ffprobe' })).toEqual({ ffmpeg: '/opt/ff/ffmpeg', ffprobe: '/opt/ff/ffprobe' });
    const dir = await fakeBuild(await tempDir());
    expect(resolveFfmpegBinaries({ FFMPEG_PATH: join(dir, 'ffmpeg') })).toEqual({ ffmpeg: join(dir, 'ffmpeg'), ffprobe: join(dir, 'ffprobe') });
  });

  it('else a system ffmpeg: the first PATH directory holding both ffmpeg and ffprobe, before the npm packages', async () => {
    const base = await tempDir();
    const onlyFfmpeg = join(base, 'half');
    await mkdir(onlyFfmpeg);
    await exe(join(onlyFfmpeg, 'ffmpeg'), '#!/bin/sh\n');
    const both = await fakeBuild(join(base, 'both'));
    expect(resolveFfmpegBinaries({ PATH: `${onlyFfmpeg}:${both}` })).toEqual({ ffmpeg: join(both, 'ffmpeg'), ffprobe: join(both, 'ffprobe') });
    expect(resolveFfmpegBinaries({ PATH: '/usr/bin' }).prlimit).toBe('/usr/bin/prlimit');
  });

  it('else the npm packages', () => {
    const installed = resolveFfmpegBinaries({ PATH: '' });
    expect(installed.ffmpeg).toMatch(/@ffmpeg-installer.*ffmpeg$/);
    expect(installed.ffprobe).toMatch(/@ffprobe-installer.*ffprobe$/);
  });

  it('the ones found here pass the start-up check and are one build (Debian ffmpeg, see .ci/run)', async () => {
    const v = await verifyFfmpegBinaries(resolveFfmpegBinaries());
    expect(v.ffmpeg).toMatch(/^ffmpeg version/);
    expect(v.ffprobe).toMatch(/^ffprobe version/);
    expect(v.sameBuild).toBe(true);
  });

  it('the npm ffmpeg and ffprobe are two different builds, and the check says so', async () => {
    const v = await verifyFfmpegBinaries(resolveFfmpegBinaries({ PATH: '' }));
    expect(v.sameBuild).toBe(false);
  });

  it('a missing binary fails the start-up check clearly: which binary, where, and the variable to set', async () => {
    const real = resolveFfmpegBinaries({});
    const err = await verifyFfmpegBinaries({ ...real, ffmpeg: '/nonexistent/ffmpeg' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'InvalidOptions' });
    expect((err as Error).message).toMatch(/ffmpeg at \/nonexistent\/ffmpeg is unusable: no such file.*FFMPEG_PATH/);
  });

  it('a file that is not executable, or a program that is not ffmpeg, fails it too', async () => {
    const dir = await tempDir();
    const plain = join(dir, 'ffprobe');
    await writeFile(plain, 'not a program');
    await chmod(plain, 0o644);
    const real = resolveFfmpegBinaries({});
    await expect(verifyFfmpegBinaries({ ...real, ffprobe: plain })).rejects.toThrow(/not executable.*FFPROBE_PATH/);
    const impostor = join(dir, 'fake-ffmpeg');
    await writeFile(impostor, '#!/bin/sh\necho hello\n');
    await chmod(impostor, 0o755);
    await expect(verifyFfmpegBinaries({ ...real, ffmpeg: impostor })).rejects.toThrow(/printed "hello", not "ffmpeg version/);
  });

  it('a binary that hangs fails it within the timeout instead of hanging the start-up', async () => {
    const dir = await tempDir();
    const hang = join(dir, 'hang');
    await writeFile(hang, '#!/bin/sh\nexec sleep 30\n');
    await chmod(hang, 0o755);
    await expect(verifyFfmpegBinaries({ ...resolveFfmpegBinaries({}), ffmpeg: hang }, 300)).rejects.toThrow(/did not answer within 300 ms/);
  });
});
