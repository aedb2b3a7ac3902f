import { describe, expect, it } from 'vitest';
import {
  assessProbe,
  FORMAT_WHITELIST,
  probeArgs,
  renditionHeights,
  renditionOutputArgs,
  resolveEncodeSettings,
  safeInputArgs,
  thumbnailOutputArgs,
  type SourceInfo,
} from '../../src/video/media-policy.js';

const mp4 = 'mov,mp4,m4a,3gp,3g2,mj2';
const probe = (o: { format?: string; duration?: string; streams?: unknown[] } = {}) => ({
  format: { format_name: o.format ?? mp4, duration: o.duration ?? '2.000000' },
  streams: o.streams ?? [
    { index: 0, codec_type: 'video', codec_name: 'h264', width: 1280, height: 720 },
    { index: 1, codec_type: 'audio', codec_name: 'aac' },
  ],
});

describe('the rendition ladder', () => {
  it.each([
    [1080, [240, 360, 720]],
    [720, [240, 360, 720]],
    [719, [240, 360]],
    [360, [240, 360]],
    [240, [240]],
    [120, [240]],
  ])('a %ip source gets %j (only rungs at or below its height, at least the smallest)', (height, expected) => {
    expect(renditionHeights(height)).toEqual(expected);
  });
});

describe('assessProbe: only allow-listed containers and codecs pass', () => {
  it('accepts an H.264/AAC MP4 and chooses the mov demuxer and the probed stream indexes', () => {
    const a = assessProbe(probe());
    expect(a).toEqual({ ok: true, source: { demuxer: 'mov', durationSec: 2, width: 1280, height: 720, videoStream: 0, videoCodec: 'h264', audioStream: 1, audioCodec: 'aac' } });
  });

  it.each(['hls', 'concat', 'image2', 'tty', 'lavfi', 'wav', 'mp3', ''])('refuses the %j container', (format) => {
    const a = assessProbe(probe({ format }));
    expect(a.ok).toBe(false);
    if (!a.ok) expect(a.reason).toMatch(/unsupported container/);
  });

  it('refuses a video codec that is not on the list', () => {
    const a = assessProbe(probe({ streams: [{ index: 0, codec_type: 'video', codec_name: 'gif', width: 320, height: 240 }] }));
    expect(a).toEqual({ ok: false, reason: 'unsupported video codec "gif"' });
  });

  it('refuses an audio codec that is not on the list', () => {
    const a = assessProbe(probe({ streams: [{ index: 0, codec_type: 'video', codec_name: 'h264', width: 320, height: 240 }, { index: 1, codec_type: 'audio', codec_name: 'adpcm_ms' }] }));
    expect(a.ok).toBe(false);
  });

  it('refuses a file whose only picture is cover art (no real video stream)', () => {
    const a = assessProbe(probe({ streams: [{ index: 0, codec_type: 'video', codec_name: 'h264', width: 320, height: 240, disposition: { attached_pic: 1 } }] }));
    expect(a).toEqual({ ok: false, reason: 'the file has no video stream' });
  });

  it('refuses absurd frame sizes and missing or too long durations', () => {
    expect(assessProbe(probe({ streams: [{ index: 0, codec_type: 'video', codec_name: 'h264', width: 100000, height: 240 }] })).ok).toBe(false);
    expect(assessProbe(probe({ duration: 'N/A' })).ok).toBe(false);
    expect(assessProbe(probe({ duration: '7200' }), 3600).ok).toBe(false);
  });

  it('uses the displayed height of a rotated (portrait) video', () => {
    const a = assessProbe(probe({ streams: [{ index: 0, codec_type: 'video', codec_name: 'h264', width: 1280, height: 720, side_data_list: [{ rotation: -90 }] }] }));
    expect(a.ok && a.source.height).toBe(1280);
  });

  it('survives garbage instead of a probe result', () => {
    for (const g of [null, undefined, 42, 'x', { format: 'x', streams: 'y' }]) expect(assessProbe(g).ok).toBe(false);
  });
});

describe('ffmpeg arguments are built by the server only', () => {
  const source: SourceInfo = { demuxer: 'mov', durationSec: 2, width: 1280, height: 720, videoStream: 0, videoCodec: 'h264', audioStream: 1, audioCodec: 'aac' };

  it('every read restricts protocols to file and demuxers to the allow-list, and names the demuxer', () => {
    expect(safeInputArgs('mov')).toEqual(['-protocol_whitelist', 'file', '-format_whitelist', FORMAT_WHITELIST, '-f', 'mov']);
    expect(probeArgs('/data/videos/v-1/source')).toEqual(expect.arrayContaining(['-protocol_whitelist', 'file', '-format_whitelist']));
    expect(FORMAT_WHITELIST.split(',')).not.toContain('hls');
  });

  it('a rendition is H.264 + AAC in MP4 with faststart, mapping only the probed streams', () => {
    const args = renditionOutputArgs(source, 360, { preset: 'veryfast', crf: 23 });
    expect(args.join(' ')).toContain('-map 0:0 -map 0:1');
    expect(args.join(' ')).toContain('-c:v libx264');
    expect(args.join(' ')).toContain('-c:a aac');
    expect(args.join(' ')).toContain('-movflags +faststart');
    expect(args.join(' ')).toContain('scale=-2:360');
    expect(args.slice(-2)).toEqual(['-f', 'mp4']);
    // fluent-ffmpeg splits an option string on a space; none of ours has one.
    for (const a of [...args, ...thumbnailOutputArgs(source, 240), ...safeInputArgs('mov')]) expect(a).not.toMatch(/\s/);
  });

  it('a source without audio gets -an instead of an audio map', () => {
    const args = renditionOutputArgs({ ...source, audioStream: null, audioCodec: null }, 240, { preset: 'veryfast', crf: 23 });
    expect(args).toContain('-an');
    expect(args).not.toContain('-c:a');
  });

  it('encode settings are validated once', () => {
    expect(resolveEncodeSettings({ preset: 'ultrafast' }).preset).toBe('ultrafast');
    expect(() => resolveEncodeSettings({ preset: 'ultrafast -i /etc/passwd' as never })).toThrow(/preset/);
    expect(() => resolveEncodeSettings({ crf: 99 })).toThrow(/crf/);
    expect(() => resolveEncodeSettings({ ladder: [241] })).toThrow(/ladder/);
  });
});
