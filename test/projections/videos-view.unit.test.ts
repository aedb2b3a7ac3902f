/**
 * The `videos` view never shows a status going backwards (issue 4, the seeds' ordering bug). Its `apply`
 * is pure, so it is checked here on its own against random valid video streams made by the decider:
 * - delivered in order, a row is exactly the decider's fold (the view is derived);
 * - delivered in any order, with duplicates, the row's version never decreases, its attempt never
 *   decreases, and within one attempt its status rank (NEW < UPLOADED < PROCESSING < final) never does;
 * - an event at or below the row's version is a no-op (the seq guard), so at-least-once redelivery of
 *   an in-order stream ends in exactly the in-order row.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DomainError, videoDecider, type EventEnvelope, type VideoCommand, type VideoState, type VideoStatus } from '../../src/index.js';
import { statusMovesForward, videosView, type VideoRow } from '../../src/projections/index.js';

/** The order the view promises: a final status is never left for an earlier one within an attempt. */
const RANK: Record<VideoStatus, number> = { NEW: 0, UPLOADED: 1, PROCESSING: 2, SUCCEEDED: 3, FAILED: 3, CANCELLED: 3 };
const SHA = 'a'.repeat(64);

/** A command, with its attempt given relative to the current one (-1 stale, 0 current, +1 next). */
const commandSpec = fc.oneof(
  { weight: 1, arbitrary: fc.constant({ kind: 'Upload' as const }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('StartProcessing' as const), delta: fc.integer({ min: -1, max: 1 }) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('ReportProgress' as const), delta: fc.integer({ min: -1, max: 0 }), percent: fc.integer({ min: 0, max: 100 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('CompleteRendition' as const), delta: fc.integer({ min: -1, max: 0 }), height: fc.constantFrom(240, 360, 720, 1080) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('Succeed' as const), delta: fc.integer({ min: -1, max: 0 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('Fail' as const), delta: fc.integer({ min: -1, max: 1 }), retriable: fc.constantFrom(true, true, true, false) }) },
  { weight: 1, arbitrary: fc.constantFrom({ kind: 'Cancel' as const }, { kind: 'Upload' as const }) },
);
type CommandSpec = typeof commandSpec extends fc.Arbitrary<infer T> ? T : never;

function toCommand(spec: CommandSpec, state: VideoState): VideoCommand {
  const attempt = Math.max(1, state.attempt + ('delta' in spec ? spec.delta : 0));
  switch (spec.kind) {
    case 'Upload':
      return { type: 'Upload', data: { path: 'videos/v1/source', bytes: 1000, sha256: SHA } };
    case 'StartProcessing':
      return { type: 'StartProcessing', data: { attempt } };
    case 'ReportProgress':
      return { type: 'ReportProgress', data: { attempt, percent: spec.percent } };
    case 'CompleteRendition':
      return { type: 'CompleteRendition', data: { attempt, height: spec.height, path: `videos/v1/r${spec.height}.mp4`, bytes: spec.height * 10 } };
    case 'Succeed':
      return { type: 'Succeed', data: { attempt, thumbnail: 'videos/v1/thumb.jpg' } };
    case 'Fail':
      return { type: 'Fail', data: { attempt, reason: 'encoder crashed', retriable: spec.retriable } };
    case 'Cancel':
      return { type: 'Cancel', data: { reason: 'user' } };
  }
}

/** Runs the commands through the decider (rejections write nothing) and returns the stream's envelopes. */
function streamOf(specs: readonly CommandSpec[]): EventEnvelope[] {
  let state = videoDecider.initialState();
  const events: EventEnvelope[] = [];
  for (const spec of specs) {
    let decided;
    try {
      decided = videoDecider.decide(toCommand(spec, state), state, { now: 0, id: 'v1', version: events.length });
    } catch (err) {
      if (DomainError.isDomain(err)) continue;
      throw err;
    }
    for (const e of decided) {
      state = videoDecider.evolve(state, e);
      const seq = events.length + 1;
      events.push({ aggregateType: 'video', stream: 'v1', type: e.type, seq, data: e.data, ts: 1_000 + seq, partition: 0, offset: seq - 1, meta: {} });
    }
  }
  return events;
}

/** Upload first, so most streams go somewhere; then any mix of commands. */
const videoStream = fc.array(commandSpec, { minLength: 5, maxLength: 60, size: 'medium' }).map((specs) => streamOf([{ kind: 'Upload' }, { kind: 'StartProcessing', delta: 1 }, ...specs]));

/** A delivery order: every event at least once, in any order, with some delivered again. */
const delivery = (events: EventEnvelope[]) =>
  fc.tuple(fc.shuffledSubarray(events, { minLength: events.length, maxLength: events.length }), fc.array(fc.nat(), { maxLength: 20 })).map(([shuffled, dupIndexes]) => {
    const out = [...shuffled];
    for (const i of dupIndexes) out.splice(i % (out.length + 1), 0, events[i % events.length]!);
    return out;
  });

function fold(events: readonly EventEnvelope[]): VideoState {
  return events.reduce<VideoState>((s, e) => videoDecider.evolve(s, e as never), videoDecider.initialState());
}

describe('the videos view', () => {
  it('delivered in order, holds exactly the decider fold of the stream after every event', () => {
    fc.assert(
      fc.property(videoStream, (events) => {
        let row: VideoRow | undefined;
        for (const [i, e] of events.entries()) {
          const next: VideoRow | undefined = videosView.apply(row, e);
          const state = fold(events.slice(0, i + 1));
          expect(next).toMatchObject({ status: state.status, progress: state.progress, attempt: state.attempt, version: e.seq, updatedAt: e.ts, state });
          expect(next?.renditions).toEqual(state.renditions.map((r) => ({ height: r.height, bytes: r.bytes })));
          row = next;
        }
      }),
      { numRuns: 300, seed: 4_600 },
    );
  });

  it('delivered in any order with duplicates, never moves its status backwards within an attempt', () => {
    fc.assert(
      fc.property(
        videoStream.chain((events) => fc.tuple(fc.constant(events), delivery(events))),
        ([, delivered]) => {
          let row: VideoRow | undefined;
          for (const e of delivered) {
            const before = row;
            const after = videosView.apply(row, e);
            if (!after) throw new Error(`the videos view removed its row on ${e.type}#${e.seq}`);
            row = after;
            if (!before) continue;
            expect(row.version).toBeGreaterThanOrEqual(before.version);
            expect(row.attempt, `attempt after ${e.type}#${e.seq}`).toBeGreaterThanOrEqual(before.attempt);
            if (row.attempt === before.attempt) expect(RANK[row.status], `${before.status} -> ${row.status} on ${e.type}#${e.seq}`).toBeGreaterThanOrEqual(RANK[before.status]);
            expect(statusMovesForward(before.state, row.state)).toBe(true);
            // The seq guard: an event the row already covers changes nothing.
            if (e.seq <= before.version) expect(row).toEqual(before);
          }
        },
      ),
      { numRuns: 300, seed: 4_601 },
    );
  });

  it('redelivered at least once but in order, ends in exactly the in-order row (replays are no-ops)', () => {
    fc.assert(
      fc.property(
        videoStream.chain((events) => fc.tuple(fc.constant(events), fc.array(fc.tuple(fc.nat(), fc.nat()), { maxLength: 30 }))),
        ([events, replays]) => {
          // After event i, replay some earlier event j <= i (a consumer restarting from an older checkpoint).
          const replayAfter = new Map<number, number[]>();
          for (const [i, j] of replays) {
            const at = i % events.length;
            replayAfter.set(at, [...(replayAfter.get(at) ?? []), j % (at + 1)]);
          }
          let inOrder: VideoRow | undefined;
          let redelivered: VideoRow | undefined;
          events.forEach((e, i) => {
            inOrder = videosView.apply(inOrder, e);
            redelivered = videosView.apply(redelivered, e);
            for (const j of replayAfter.get(i) ?? []) redelivered = videosView.apply(redelivered, events[j]!);
            expect(redelivered).toEqual(inOrder);
          });
        },
      ),
      { numRuns: 300, seed: 4_602 },
    );
  });

  it('keeps SUCCEEDED when a stale progress or start of the same attempt arrives late', () => {
    const events = streamOf([
      { kind: 'Upload' },
      { kind: 'StartProcessing', delta: 1 },
      { kind: 'ReportProgress', delta: 0, percent: 40 },
      { kind: 'CompleteRendition', delta: 0, height: 720 },
      { kind: 'Succeed', delta: 0 },
    ]);
    expect(events.map((e) => e.type)).toEqual(['VideoUploaded', 'VideoProcessingStarted', 'VideoProcessingProgressed', 'RenditionCompleted', 'VideoProcessingSucceeded']);
    let row: VideoRow | undefined;
    for (const i of [0, 1, 4, 2, 3, 1, 0]) row = videosView.apply(row, events[i]!);
    expect(row).toMatchObject({ status: 'SUCCEEDED', progress: 100, version: 5 });
  });
});
