import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { VideoStorage } from '../../src/video/index.js';
import { useTempDirs } from '../support/temp-dirs.js';

const tempDir = useTempDirs('vstore');

function chunks(...parts: Buffer[]): Readable {
  return Readable.from(parts);
}

describe('VideoStorage', () => {
  it('makes ids that fit both the runtime id rule and event paths', () => {
    const id = VideoStorage.newVideoId();
    expect(id).toMatch(/^[A-Za-z0-9_.:-]{1,128}$/);
    expect(VideoStorage.isManagedId(id)).toBe(true);
    expect(new VideoStorage('/d').sourcePath(id)).toMatch(/^[A-Za-z0-9_-]+(\/[A-Za-z0-9_.-]+)*$/);
  });

  it('streams an upload to videos/<id>/source with its size and sha256, leaving no temporary file', async () => {
    const dir = await tempDir();
    const s = new VideoStorage(dir);
    const a = randomBytes(100_000);
    const b = randomBytes(50_000);
    const r = await s.receiveUpload('v-1', chunks(a, b), 1_000_000);
    const all = Buffer.concat([a, b]);
    expect(r).toEqual({ path: 'videos/v-1/source', bytes: all.length, sha256: createHash('sha256').update(all).digest('hex') });
    expect(await readFile(join(dir, r.path))).toEqual(all);
    expect(await readdir(join(dir, 'videos/v-1'))).toEqual(['source']);
  });

  it('an upload over the cap is refused with PayloadTooLarge and leaves nothing on disk', async () => {
    const dir = await tempDir();
    const s = new VideoStorage(dir);
    await expect(s.receiveUpload('v-2', chunks(randomBytes(600), randomBytes(600)), 1000)).rejects.toMatchObject({ code: 'PayloadTooLarge' });
    expect(existsSync(join(dir, 'videos/v-2'))).toBe(false);
  });

  it('an empty upload is refused and leaves nothing on disk', async () => {
    const dir = await tempDir();
    const s = new VideoStorage(dir);
    await expect(s.receiveUpload('v-3', chunks(), 1000)).rejects.toMatchObject({ code: 'InvalidCommand' });
    expect(existsSync(join(dir, 'videos/v-3'))).toBe(false);
  });

  it('an upload whose client goes away half-way leaves nothing on disk', async () => {
    const dir = await tempDir();
    const s = new VideoStorage(dir);
    const body = new Readable({ read() {} });
    body.push(randomBytes(1000));
    setImmediate(() => body.destroy(new Error('aborted')));
    await expect(s.receiveUpload('v-4', body, 1_000_000)).rejects.toMatchObject({ code: 'InvalidCommand' });
    expect(existsSync(join(dir, 'videos/v-4'))).toBe(false);
  });

  it('resolves only paths of the shape it builds, inside the video\'s own directory', () => {
    const s = new VideoStorage('/data');
    expect(s.absolute('v-1', 'videos/v-1/a1/240p.mp4')).toBe('/data/videos/v-1/a1/240p.mp4');
    for (const bad of ['videos/v-2/a1/240p.mp4', 'videos/v-1/../v-2/source', '/etc/passwd', 'videos/v-1/a1/../../../etc/passwd', 'log.mdb', 'videos/v-1']) {
      expect(() => s.absolute('v-1', bad), bad).toThrow(/not a file of video|escapes/);
    }
  });

  it('refuses ids that cannot be path segments, though the runtime accepts them', () => {
    const s = new VideoStorage('/data');
    for (const id of ['a:b', '..', 'a..b', '.hidden']) expect(() => s.sourcePath(id), id).toThrow(/cannot name files/);
    expect(s.isManagedSource('v-1', 'videos/v-1/source')).toBe(true);
    expect(s.isManagedSource('v-1', 'videos/v-1/a1/240p.mp4')).toBe(false);
  });
});
