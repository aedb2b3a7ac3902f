import { describe, expect, it } from 'vitest';
import { videoDecider, type VideoState } from '../../src/domain/index.js';
import { planNext } from '../../src/video/index.js';

const state = (patch: Partial<VideoState>): VideoState => ({ ...videoDecider.initialState(), ...patch });
const failed = (attempt: number, retriable: boolean) => state({ status: 'FAILED', attempt, error: { reason: 'x', retriable, attempt } });

describe('planNext: what the reactor does with a video no job is running for (max 3 attempts)', () => {
  it.each([
    ['an UPLOADED video starts attempt 1', state({ status: 'UPLOADED' }), { kind: 'start', attempt: 1 }],
    ['a PROCESSING attempt 1 that never finished gets attempt 2', state({ status: 'PROCESSING', attempt: 1 }), { kind: 'start', attempt: 2 }],
    ['a PROCESSING attempt 2 that never finished gets attempt 3', state({ status: 'PROCESSING', attempt: 2 }), { kind: 'start', attempt: 3 }],
    ['a retriable failure of attempt 1 gets attempt 2', failed(1, true), { kind: 'start', attempt: 2 }],
    ['a retriable failure of the last attempt is final', failed(3, true), { kind: 'none' }],
    ['a failure about the input is never retried', failed(1, false), { kind: 'none' }],
    ['a SUCCEEDED video is left alone', state({ status: 'SUCCEEDED', attempt: 1 }), { kind: 'none' }],
    ['a CANCELLED video is left alone', state({ status: 'CANCELLED', attempt: 1 }), { kind: 'none' }],
    ['a NEW (never uploaded) video is left alone', state({}), { kind: 'none' }],
  ])('%s', (_name, s, expected) => {
    expect(planNext(s, 3)).toEqual(expected);
  });

  it('a PROCESSING video at the last attempt is failed for good, naming why', () => {
    const plan = planNext(state({ status: 'PROCESSING', attempt: 3 }), 3);
    expect(plan).toMatchObject({ kind: 'give-up', attempt: 3 });
    expect(plan.kind === 'give-up' && plan.reason).toMatch(/never finished.*3 attempts/);
  });
});
