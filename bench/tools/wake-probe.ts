/**
 * What waking an idle thread costs on this machine, for the fixed cost of a small commit (bench/README.md
 * "The fixed cost of a commit"): the main thread sends one message per `gapMs` to an idle worker thread,
 * by `postMessage` or by `Atomics.notify` (the worker in `Atomics.waitAsync`), or sends nothing ('none':
 * the main thread's own timer wake-up alone). Prints the send call's wall time and the CPU per message
 * of each thread (10 ms ticks: use a few thousand messages) and of the whole process (the main thread's
 * includes its timer wake-up).
 *
 *   node --import tsx bench/tools/wake-probe.ts [none|post|notify] [messages=5000] [gapMs=1]
 *
 * The worker is this same file, started through workers/ts-bootstrap.mjs.
 */
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { threadCpuUs } from '../support/threads.js';

/** The calling thread's CPU in us (0 off Linux: the figures then read 0). */
const threadCpu = (): number => threadCpuUs() ?? 0;
const perMessage = (c0: number, n: number): string => ((threadCpu() - c0) / Math.max(1, n)).toFixed(1);
/** `Atomics.waitAsync` (V8 since Node 16; typed only from lib es2024, past this project's target). */
const waitAsync = (Atomics as unknown as { waitAsync(a: Int32Array, i: number, v: number): { async: boolean; value: Promise<string> | string } }).waitAsync;

if (isMainThread) {
  const mode = process.argv[2] ?? 'post';
  const n = Number(process.argv[3] ?? 5000);
  const gapMs = Number(process.argv[4] ?? 1);
  const flag = new Int32Array(new SharedArrayBuffer(4));
  // Node cannot start a .ts worker by itself: the project's bootstrap registers tsx, then imports `entry`.
  const worker = new Worker(new URL('../../workers/ts-bootstrap.mjs', import.meta.url), { workerData: { mode, flag, entry: import.meta.url } });
  const replies: ((m: { received: number; cpu: string }) => void)[] = [];
  worker.on('message', (m: { received: number; cpu: string }) => replies.shift()?.(m));
  const next = () => new Promise<{ received: number; cpu: string }>((resolve) => replies.push(resolve));
  await next(); // ready
  const c0 = threadCpu();
  const p0 = process.cpuUsage();
  let sendNs = 0n;
  for (let i = 0; i < n; i++) {
    const t = process.hrtime.bigint();
    if (mode === 'post') worker.postMessage(i);
    else if (mode === 'notify') {
      Atomics.store(flag, 0, i + 1);
      Atomics.notify(flag, 0);
    }
    sendNs += process.hrtime.bigint() - t;
    await new Promise((resolve) => setTimeout(resolve, gapMs));
  }
  const main = perMessage(c0, n);
  const p = process.cpuUsage(p0);
  const all = ((p.user + p.system) / n).toFixed(1);
  const receiver = next();
  worker.postMessage('end');
  Atomics.store(flag, 0, -1);
  Atomics.notify(flag, 0);
  const r = await receiver;
  console.log(`${mode}, ${n} messages ${gapMs} ms apart: send call ${(Number(sendNs) / n / 1000).toFixed(1)} us; CPU per message: main thread ${main} us, receiver ${r.received ? `${r.cpu} us (${r.received} received)` : '- (not woken)'}, whole process ${all} us`);
  await worker.terminate();
} else {
  const { mode, flag } = workerData as { mode: string; flag: Int32Array };
  const c0 = threadCpu();
  let received = 0;
  const port = parentPort!;
  const report = () => port.postMessage({ received, cpu: perMessage(c0, received) });
  if (mode === 'notify') {
    port.on('message', () => {});
    let seen = 0;
    void (async () => {
      for (;;) {
        const w = waitAsync(flag, 0, seen);
        if (w.async) await w.value;
        const v = Atomics.load(flag, 0);
        if (v === -1) return report();
        if (v !== seen) {
          received++;
          seen = v;
        }
      }
    })();
  } else {
    port.on('message', (m: unknown) => {
      if (m === 'end') report();
      else received++;
    });
  }
  port.postMessage('ready');
}
