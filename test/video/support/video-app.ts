/**
 * A runtime + video pipeline + fastify app for the video tests, and ways to wait for a video's status
 * that are driven by committed events (never by sleeping).
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { createEventide } from '../../../src/app/index.js';
import type { Runtime } from '../../../src/runtime/index.js';
import type { VideoState, VideoStatus } from '../../../src/domain/index.js';
import type { EventEnvelope } from '../../../src/kernel/index.js';
import { createVideoPipeline, type VideoPipeline, type VideoPipelineOptions } from '../../../src/video/index.js';
import { buildServer } from '../../../src/server/index.js';
import { videoRoutes } from '../../../src/server/routes/videos.js';

export interface VideoApp {
  dataDir: string;
  runtime: Runtime;
  pipeline: VideoPipeline;
  app: FastifyInstance;
  /** Every committed video event, in the order subscribers saw them. */
  events: EventEnvelope[];
  close(): Promise<void>;
}

export async function startVideoApp(
  dataDir: string,
  options: Omit<Partial<VideoPipelineOptions>, 'runtime'> & { server?: 'buildServer' | 'plain' } = {},
): Promise<VideoApp> {
  const eventide = await createEventide({ dataDir, partitions: 4, workers: 1 });
  const { runtime, views } = eventide;
  const events: EventEnvelope[] = [];
  runtime.subscribe((batch) => events.push(...batch.filter((e) => e.aggregateType === 'video')));
  const { server = 'plain', ...pipelineOptions } = options;
  let pipeline: VideoPipeline;
  try {
    pipeline = await createVideoPipeline({ runtime, encode: { preset: 'ultrafast' }, retryDelayMs: 0, ...pipelineOptions });
  } catch (err) {
    await eventide.close();
    throw err;
  }
  const plugin = videoRoutes({ runtime, pipeline });
  let app: FastifyInstance;
  if (server === 'buildServer') {
    app = await buildServer({ runtime, views, plugins: [plugin], dashboard: false, defaultMetrics: false });
  } else {
    app = Fastify();
    await app.register(plugin);
  }
  await app.ready();
  return {
    dataDir,
    runtime,
    pipeline,
    app,
    events,
    async close() {
      await app.close();
      await pipeline.close();
      await eventide.close();
    },
  };
}

/** Resolves with the video's state once its status is one of `statuses`. */
export function waitForStatus(runtime: Runtime, id: string, statuses: readonly VideoStatus[]): Promise<VideoState> {
  return new Promise<VideoState>((resolve, reject) => {
    let done = false;
    const check = (): void => {
      runtime.load<VideoState>('video', id).then(({ state }) => {
        if (done || !statuses.includes(state.status)) return;
        done = true;
        unsubscribe();
        resolve(state);
      }, (err: unknown) => {
        done = true;
        unsubscribe();
        reject(err as Error);
      });
    };
    const unsubscribe = runtime.subscribe((batch) => {
      if (batch.some((e) => e.aggregateType === 'video' && e.stream === id)) check();
    });
    check();
  });
}

/** Resolves with the first committed event of `id` that matches, or one already in `seen`. */
export function waitForEvent(runtime: Runtime, seen: readonly EventEnvelope[], id: string, match: (e: EventEnvelope) => boolean): Promise<EventEnvelope> {
  const already = seen.find((e) => e.stream === id && match(e));
  if (already) return Promise.resolve(already);
  return new Promise((resolve) => {
    const unsubscribe = runtime.subscribe((batch) => {
      const hit = batch.find((e) => e.aggregateType === 'video' && e.stream === id && match(e));
      if (hit) {
        unsubscribe();
        resolve(hit);
      }
    });
  });
}

export async function uploadBytes(app: FastifyInstance, body: Buffer, contentType = 'application/octet-stream') {
  const res = await app.inject({ method: 'POST', url: '/videos', payload: body, headers: { 'content-type': contentType } });
  return { status: res.statusCode, body: res.json() as Record<string, unknown>, headers: res.headers };
}

const RANK: Record<VideoStatus, number> = { NEW: 0, UPLOADED: 1, PROCESSING: 2, SUCCEEDED: 3, FAILED: 3, CANCELLED: 3 };
// The tests' own copy of the event -> status rule, on purpose: an oracle that imported the decider's
// STATUS_AFTER would agree with any bug in it.
const STATUS_AFTER: Record<string, VideoStatus> = {
  VideoUploaded: 'UPLOADED',
  VideoProcessingStarted: 'PROCESSING',
  VideoProcessingProgressed: 'PROCESSING',
  RenditionCompleted: 'PROCESSING',
  VideoProcessingSucceeded: 'SUCCEEDED',
  VideoProcessingFailed: 'FAILED',
  VideoCancelled: 'CANCELLED',
};

/** The statuses a stream goes through, one per event; throws on an event type it does not know. */
export function statusTrail(events: readonly EventEnvelope[]): VideoStatus[] {
  return events.map((e) => {
    const s = STATUS_AFTER[e.type];
    if (!s) throw new Error(`unknown video event ${e.type}`);
    return s;
  });
}

export function neverBackwards(trail: readonly VideoStatus[]): boolean {
  return trail.every((s, i) => i === 0 || RANK[s] >= RANK[trail[i - 1]!]);
}
