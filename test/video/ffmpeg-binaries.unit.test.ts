import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveFfmpegBinaries, verifyFfmpegBinaries } from '../../src/video/index.js';
import { useTempDirs } from '../support/temp-dirs.js';

const tempDir = useTempDirs('ffbin');

describe('ffmpeg and ffprobe binaries', () => {
  it('come from the npm packages unless FFMPEG_PATH / FFPROBE_PATH override them', () => {
    const installed = resolveFfmpegBinaries({});
    expect(installed.ffmpeg).toMatch(/@ffmpeg-installer.*ffmpeg$/);
    expect(installed.ffprobe).toMatch(/@ffprobe-installer.*ffprobe$/);
    expect(resolveFfmpegBinaries({ FFMPEG_PATH: '/opt/ff/ffmpeg', FFPROBE_PATH: '/opt/ff/ffprobe' })).toEqual({ ffmpeg: '/opt/ff/ffmpeg', ffprobe: '/opt/ff/ffprobe' });
  });

  it('the installed ones pass the start-up check', async () => {
    const v = await verifyFfmpegBinaries(resolveFfmpegBinaries({}));
    expect(v.ffmpeg).toMatch(/^ffmpeg version/);
    expect(v.ffprobe).toMatch(/^ffprobe version/);
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
