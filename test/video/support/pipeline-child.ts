/**
 * A server process stand-in for the crash test: runtime + video pipeline on a data dir, printing every
 * committed video event and every pipeline log line as a JSON line on stdout. Args: <dataDir> <ffmpeg binary> [clip to upload].
 * SIGTERM closes it cleanly; the test kills it with SIGKILL mid-encode.
 */
import { createReadStream } from 'node:fs';
import { createRuntime } from '../../../src/runtime/index.js';
import { createVideoPipeline, resolveFfmpegBinaries } from '../../../src/video/index.js';

const [dataDir, ffmpeg, upload] = process.argv.slice(2);
if (!dataDir || !ffmpeg) throw new Error('usage: pipeline-child <dataDir> <ffmpeg> [clip]');
const print = (o: unknown): boolean => process.stdout.write(`${JSON.stringify(o)}\n`);

const runtime = await createRuntime({ dataDir, partitions: 2, workers: 1 });
runtime.subscribe((events) => {
  for (const e of events) if (e.aggregateType === 'video') print({ event: { type: e.type, stream: e.stream, seq: e.seq, data: e.data } });
});
const log = (level: string) => (fields: Record<string, unknown>, msg: string) => print({ log: { level, msg, ...fields } });
const logger = { info: log('info'), warn: log('warn'), error: log('error') };
const pipeline = await createVideoPipeline({ runtime, maxJobs: 1, retryDelayMs: 0, encode: { preset: 'ultrafast' }, binaries: { ...resolveFfmpegBinaries(), ffmpeg }, logger });
if (upload) print({ uploaded: (await pipeline.upload(createReadStream(upload))).id });
print({ ready: true });
process.on('SIGTERM', () => {
  pipeline
    .close()
    .then(() => runtime.close())
    .then(
      () => process.exit(0),
      (err: unknown) => {
        console.error('close failed:', err);
        process.exit(1);
      },
    );
});
