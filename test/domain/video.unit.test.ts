/**
 * The video decider: status is derived from events only, and every processing command names its attempt,
 * so a late command from an older attempt is rejected (`StaleAttempt`) instead of overwriting newer status.
 */
import { describe, expect, it } from 'vitest';
import { FINAL_STATUSES, videoDecider, type VideoEvent } from '../../src/index.js';
import { deciderSpec } from '../support/decider-spec.js';

const { given, when, rejection } = deciderSpec(videoDecider, 'vid-1');
const sha = 'a'.repeat(64);

const uploaded: VideoEvent = { type: 'VideoUploaded', data: { path: 'uploads/v1/source.mp4', bytes: 1000, sha256: sha, contentType: 'video/mp4' } };
const started = (attempt: number): VideoEvent => ({ type: 'VideoProcessingStarted', data: { attempt } });
const rendition = (attempt: number, height: number): VideoEvent => ({ type: 'RenditionCompleted', data: { attempt, height, path: `renditions/v1/${height}.mp4`, bytes: height * 10 } });
const failed = (attempt: number, retriable: boolean): VideoEvent => ({ type: 'VideoProcessingFailed', data: { attempt, reason: 'ffmpeg exited 1', retriable } });

describe('video decider', () => {
  it('starts NEW with nothing uploaded', () => {
    expect(given([])).toMatchObject({ status: 'NEW', source: null, attempt: 0, renditions: [] });
  });

  it('accepts one upload and records a missing content type as null', () => {
    const events = when(given([]), { type: 'Upload', data: { path: 'uploads/v1/source.mp4', bytes: 1000, sha256: sha } });
    expect(events).toEqual([{ type: 'VideoUploaded', data: { path: 'uploads/v1/source.mp4', bytes: 1000, sha256: sha, contentType: null } }]);
    expect(given(events).status).toBe('UPLOADED');
    expect(rejection(given(events), { type: 'Upload', data: { path: 'uploads/v1/x.mp4', bytes: 1, sha256: sha } }).code).toBe('VideoAlreadyUploaded');
  });

  it('starts processing only with the next attempt number', () => {
    const state = given([uploaded]);
    expect(when(state, { type: 'StartProcessing', data: { attempt: 1 } })).toEqual([started(1)]);
    expect(rejection(state, { type: 'StartProcessing', data: { attempt: 2 } }).code).toBe('StaleAttempt');
    expect(rejection(given([]), { type: 'StartProcessing', data: { attempt: 1 } }).code).toBe('InvalidVideoStatus');
  });

  it('rejects progress, renditions and success from a stale attempt instead of overwriting newer status', () => {
    const state = given([uploaded, started(1), failed(1, true), started(2)]);
    expect(state).toMatchObject({ status: 'PROCESSING', attempt: 2 });
    for (const command of [
      { type: 'ReportProgress', data: { attempt: 1, percent: 90 } },
      { type: 'CompleteRendition', data: { attempt: 1, height: 720, path: 'renditions/v1/720.mp4', bytes: 5 } },
      { type: 'Succeed', data: { attempt: 1 } },
      { type: 'Fail', data: { attempt: 1, reason: 'late', retriable: false } },
    ] as const) {
      const err = rejection(state, command);
      expect(err.code).toBe('StaleAttempt');
      expect(err.details).toEqual({ attempt: 1, current: 2 });
    }
  });

  it('never moves progress backwards: a late lower report is a no-op', () => {
    const state = given([uploaded, started(1), { type: 'VideoProcessingProgressed', data: { attempt: 1, percent: 40 } }]);
    expect(when(state, { type: 'ReportProgress', data: { attempt: 1, percent: 30 } })).toEqual([]);
    expect(when(state, { type: 'ReportProgress', data: { attempt: 1, percent: 41 } })).toHaveLength(1);
  });

  it('keeps renditions sorted by height and ignores a second rendition of the same height', () => {
    const state = given([uploaded, started(1), rendition(1, 1080), rendition(1, 360)]);
    expect(state.renditions.map((r) => r.height)).toEqual([360, 1080]);
    expect(when(state, { type: 'CompleteRendition', data: { attempt: 1, height: 360, path: 'renditions/v1/360b.mp4', bytes: 1 } })).toEqual([]);
  });

  it('succeeds only with at least one rendition', () => {
    expect(rejection(given([uploaded, started(1)]), { type: 'Succeed', data: { attempt: 1 } }).code).toBe('NoRenditions');
    const events = when(given([uploaded, started(1), rendition(1, 720)]), { type: 'Succeed', data: { attempt: 1, thumbnail: 'thumbs/v1.jpg' } });
    expect(events).toEqual([{ type: 'VideoProcessingSucceeded', data: { attempt: 1, thumbnail: 'thumbs/v1.jpg' } }]);
    expect(given([uploaded, started(1), rendition(1, 720), ...events])).toMatchObject({ status: 'SUCCEEDED', progress: 100 });
  });

  it('may fail an upload before any attempt started, and resumes only retriable failures', () => {
    const rejected = when(given([uploaded]), { type: 'Fail', data: { attempt: 1, reason: 'ffmpeg exited 1', retriable: false } });
    expect(rejected).toEqual([failed(1, false)]);
    expect(rejection(given([uploaded, failed(1, false)]), { type: 'StartProcessing', data: { attempt: 2 } }).code).toBe('InvalidVideoStatus');
    expect(when(given([uploaded, started(1), failed(1, true)]), { type: 'StartProcessing', data: { attempt: 2 } })).toEqual([started(2)]);
  });

  it('cancels any uploaded, unfinished video and nothing final', () => {
    expect(rejection(given([]), { type: 'Cancel', data: {} }).code).toBe('VideoNotUploaded');
    expect(when(given([uploaded, started(1)]), { type: 'Cancel', data: {} })).toEqual([{ type: 'VideoCancelled', data: { reason: 'cancelled by request' } }]);
    const done = given([uploaded, started(1), rendition(1, 720), { type: 'VideoProcessingSucceeded', data: { attempt: 1, thumbnail: null } }]);
    expect(FINAL_STATUSES).toContain(done.status);
    expect(rejection(done, { type: 'Cancel', data: { reason: 'too late' } }).code).toBe('InvalidVideoStatus');
  });

  it('only stores server-made relative paths: the upload schema refuses "..", absolute paths and other characters', () => {
    const path = (videoDecider.commands.Upload as { properties: { path: { pattern: string; not: { pattern: string } } } }).properties.path;
    const ok = (p: string) => new RegExp(path.pattern).test(p) && !new RegExp(path.not.pattern).test(p);
    expect(ok('uploads/v1/source.mp4')).toBe(true);
    for (const bad of ['/etc/passwd', 'uploads/../../etc/passwd', 'uploads/a b.mp4', 'uploads\\x', '']) expect(ok(bad), bad).toBe(false);
  });
});
