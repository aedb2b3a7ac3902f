/**
 * One committer per log, measured at the LMDB level before building it into the runtime: does one write
 * transaction carrying both workers' batches beat each worker committing its own?
 *
 *   node --import tsx bench/tools/committer-probe.ts <mode> [seconds=8] [rate=0] [window=64]
 *
 * Two producer threads (the actor workers) each stage commands: per command an event put ([stream, seq],
 * 100 B) and a command-id put; per batch one index put (the partition-index run). Each drains like the
 * actor host: everything queued in one pass, at most two batches in flight, a batch acknowledged once
 * durable (`flushed`, DESIGN invariant 2). Modes:
 * - `two`: each producer writes its own batches into the shared LMDB environment (today's runtime);
 * - `one`: each producer packs its batch into one transferred ArrayBuffer and posts it to a committer
 *   thread, which queues every batch that arrived in the same event turn into one transaction (lmdb-js
 *   batches a turn) and acknowledges each once flushed (the design of issue 13's "one committer");
 * - `solo`: one producer takes the whole load and commits it itself (the runtime with `workers: 1`).
 * `rate` > 0: open loop at that many commands/s in all (half per producer), latency from each command's
 * due time; 0: closed loop with `window` callers in all. Prints commands/s, CPU per command (all threads
 * of the process), commits, latency p50/p99/max.
 */
import { cpuUsage } from 'node:process';
import { MessageChannel, Worker, isMainThread, parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { open, type Database, type RootDatabase } from 'lmdb';
import { summarise } from '../support/stats.js';
import { threadTicks } from '../support/threads.js';
import { makeTempDir, removeTempDir } from '../support/tmp.js';

type Mode = 'two' | 'one' | 'solo';
interface ProducerData {
  role: 'producer';
  index: number;
  mode: Mode;
  dir: string;
  rate: number;
  window: number;
  warmupMs: number;
  seconds: number;
  streams: number;
}
interface CommitterData {
  role: 'committer';
  dir: string;
}
interface ProducerResult {
  latencies: Float64Array;
  commands: number;
  batches: number;
}

const STREAMS = 10_000;
const VALUE = 100;
const PIPELINE_DEPTH = 2;
/** Starts this file in a worker thread from sources (tsx), as the runtime does (src/runtime/thread-entry.ts). */
const BOOT = new URL('../../workers/ts-bootstrap.mjs', import.meta.url);

function openLog(dir: string): { root: RootDatabase; dbs: Database<Buffer, Buffer>[] } {
  const root = open({ path: `${dir}/log.mdb`, maxDbs: 8, noSync: false, useWritemap: false });
  const binary = { encoding: 'binary' as const, keyEncoding: 'binary' as const };
  const dbs = ['events', 'commands', 'partitions'].map((n) => root.openDB(n, binary) as unknown as Database<Buffer, Buffer>);
  return { root, dbs };
}

/** [db, key, value] of one put. */
type Put = [db: number, key: Buffer, value: Buffer];

async function producer(d: ProducerData, committer: MessagePort | undefined): Promise<void> {
  const { root, dbs } = openLog(d.dir);
  const seqs = new Uint32Array(d.streams);
  const queue: number[] = []; // due (or sent) times of commands not yet drained
  const latencies: number[] = [];
  let commands = 0;
  let batches = 0;
  let inFlight = 0;
  let scheduled = false;
  let cmdNo = 0;
  let batchNo = 0;
  const t0 = performance.now();
  const measureFrom = t0 + d.warmupMs;
  const end = measureFrom + d.seconds * 1000;
  const acks = new Map<number, () => void>();
  committer?.on('message', (b: number) => {
    acks.get(b)!();
    acks.delete(b);
  });

  const stage = (n: number): Put[] => {
    const puts: Put[] = [];
    const slab = Buffer.allocUnsafe(n * (VALUE + 8) + n * 12);
    let o = 0;
    for (let i = 0; i < n; i++) {
      const s = (Math.random() * d.streams) | 0;
      const seq = ++seqs[s]!;
      const ek = Buffer.allocUnsafe(10);
      ek[0] = 0x61;
      ek[1] = d.index;
      ek.writeUInt32BE(s, 2);
      ek.writeUInt32BE(seq, 6);
      const v = slab.subarray(o, o + VALUE);
      v.fill(seq & 0xff);
      o += VALUE;
      const ck = Buffer.allocUnsafe(14);
      ck[0] = 0x63;
      ck[1] = d.index;
      ck.writeUInt32BE(s, 2);
      ck.writeDoubleBE(++cmdNo, 6);
      const cv = slab.subarray(o, o + 8);
      cv.writeUInt32BE(seq, 0);
      cv.writeUInt32BE(seq, 4);
      o += 8;
      puts.push([0, ek, v], [1, ck, cv]);
    }
    const ik = Buffer.allocUnsafe(6);
    ik[0] = 0x70;
    ik[1] = d.index;
    ik.writeUInt32BE(++batchNo, 2);
    puts.push([2, ik, slab.subarray(o, o + n * 12)]);
    return puts;
  };

  const commitHere = (puts: Put[]): Promise<unknown> => {
    let last: Promise<unknown> = Promise.resolve();
    for (const [db, k, v] of puts) last = dbs[db]!.put(k, v);
    return Promise.all([last, root.flushed]);
  };

  const commitThere = (puts: Put[]): Promise<void> => {
    let size = 4;
    for (const [, k, v] of puts) size += 7 + k.length + v.length;
    const buf = new ArrayBuffer(size);
    const bytes = new Uint8Array(buf);
    const view = new DataView(buf);
    view.setUint32(0, puts.length);
    let o = 4;
    for (const [db, k, v] of puts) {
      view.setUint8(o, db);
      view.setUint16(o + 1, k.length);
      view.setUint32(o + 3, v.length);
      bytes.set(k, o + 7);
      bytes.set(v, o + 7 + k.length);
      o += 7 + k.length + v.length;
    }
    const b = batchNo;
    const done = new Promise<void>((resolve) => acks.set(b, resolve));
    committer!.postMessage([b, buf], [buf]);
    return done;
  };

  const drain = async (): Promise<void> => {
    scheduled = false;
    if (inFlight >= PIPELINE_DEPTH || queue.length === 0) return;
    inFlight++;
    const due = queue.splice(0, queue.length);
    const puts = stage(due.length);
    const done = d.mode === 'one' ? commitThere(puts) : commitHere(puts);
    schedule();
    await done;
    const now = performance.now();
    if (now >= measureFrom && now < end) {
      for (const t of due) latencies.push(now - t);
      commands += due.length;
      batches++;
    }
    inFlight--;
    if (d.rate === 0 && now < end) for (let i = 0; i < due.length; i++) queue.push(performance.now());
    schedule();
  };
  function schedule(): void {
    if (scheduled || inFlight >= PIPELINE_DEPTH || queue.length === 0) return;
    scheduled = true;
    setImmediate(() => void drain());
  }

  await new Promise<void>((resolve) => {
    if (d.rate === 0) {
      for (let i = 0; i < d.window; i++) queue.push(performance.now());
      schedule();
      setTimeout(resolve, end - t0 + 200);
      return;
    }
    let sent = 0;
    const tick = (): void => {
      const now = performance.now();
      if (now >= end) return resolve();
      const upTo = Math.floor(((now - t0) * d.rate) / 1000);
      for (; sent < upTo; sent++) queue.push(t0 + (sent * 1000) / d.rate);
      schedule();
      setTimeout(tick, 1);
    };
    tick();
  });
  while (inFlight > 0) await new Promise((r) => setTimeout(r, 5));
  const result: ProducerResult = { latencies: Float64Array.from(latencies), commands, batches };
  parentPort!.postMessage(result);
  await root.close();
}

/**
 * Group commit sized by time: every batch that arrived while fewer than COMMIT_DEPTH transactions were
 * unflushed is queued at once (one event turn: one lmdb-js transaction); batches arriving meanwhile wait
 * for the oldest flush to end, then all go in the next transaction. Each batch is acked once flushed.
 */
function committer(d: CommitterData, ports: MessagePort[]): void {
  const { root, dbs } = openLog(d.dir);
  const depth = Number(process.env['COMMIT_DEPTH'] ?? 1);
  let pending: Array<[MessagePort, number, ArrayBuffer]> = [];
  let inFlight = 0;
  let scheduled = false;
  const commit = (): void => {
    scheduled = false;
    if (inFlight >= depth || pending.length === 0) return;
    const batch = pending;
    pending = [];
    let last: Promise<unknown> = Promise.resolve();
    for (const [, , buf] of batch) {
      const bytes = Buffer.from(buf);
      const view = new DataView(buf);
      const n = view.getUint32(0);
      let o = 4;
      for (let i = 0; i < n; i++) {
        const db = view.getUint8(o);
        const kl = view.getUint16(o + 1);
        const vl = view.getUint32(o + 3);
        last = dbs[db]!.put(bytes.subarray(o + 7, o + 7 + kl), bytes.subarray(o + 7 + kl, o + 7 + kl + vl));
        o += 7 + kl + vl;
      }
    }
    inFlight++;
    void Promise.all([last, root.flushed]).then(() => {
      inFlight--;
      for (const [port, b] of batch) port.postMessage(b);
      schedule();
    });
  };
  const schedule = (): void => {
    if (scheduled || inFlight >= depth || pending.length === 0) return;
    scheduled = true;
    setImmediate(commit);
  };
  for (const port of ports) {
    port.on('message', ([b, buf]: [number, ArrayBuffer]) => {
      pending.push([port, b, buf]);
      schedule();
    });
  }
  parentPort!.on('message', () => {
    for (const port of ports) port.close();
    void root.close().then(() => process.exit(0));
  });
}

if (!isMainThread) {
  const d = workerData as (ProducerData | CommitterData) & { port?: MessagePort; ports?: MessagePort[] };
  if (d.role === 'producer') void producer(d, d.port);
  else committer(d, d.ports!);
} else {
  const mode = (process.argv[2] ?? 'two') as Mode;
  if (!['two', 'one', 'solo'].includes(mode)) throw new TypeError(`mode: two | one | solo, not ${mode}`);
  const seconds = Number(process.argv[3] ?? 8);
  const rate = Number(process.argv[4] ?? 0);
  const window = Number(process.argv[5] ?? 64);
  const warmupMs = 1500;
  const dir = makeTempDir('committer');
  // The main thread opens the environment first, as the runtime's does.
  const main = openLog(dir);
  const producers = mode === 'solo' ? 1 : 2;
  const channels = mode === 'one' ? Array.from({ length: producers }, () => new MessageChannel()) : [];
  const commit = mode === 'one' ? new Worker(BOOT, { workerData: { role: 'committer', dir, ports: channels.map((c) => c.port2), entry: import.meta.url }, transferList: channels.map((c) => c.port2) }) : null;
  const results: Promise<ProducerResult>[] = [];
  for (let i = 0; i < producers; i++) {
    const data: ProducerData & { port?: MessagePort } = { role: 'producer', index: i, mode, dir, rate: rate / producers, window: Math.ceil(window / producers), warmupMs, seconds, streams: STREAMS };
    if (channels[i]) data.port = channels[i]!.port1;
    const w = new Worker(BOOT, { workerData: { ...data, entry: import.meta.url }, transferList: channels[i] ? [channels[i]!.port1] : [] });
    results.push(new Promise((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
    }));
  }
  await new Promise((r) => setTimeout(r, warmupMs));
  const cpu0 = cpuUsage();
  const ticks0 = threadTicks();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const cpu = cpuUsage(cpu0);
  const ticks1 = threadTicks();
  const all = await Promise.all(results);
  commit?.postMessage('stop');
  const n = all.reduce((s, r) => s + r.commands, 0);
  const batches = all.reduce((s, r) => s + r.batches, 0);
  const l = summarise(Float64Array.from(all.flatMap((r) => [...r.latencies])));
  const threads = [...ticks1].map(([tid, t]) => ({ tid, us: ((t.ticks - (ticks0.get(tid)?.ticks ?? 0)) * 10_000) / n })).filter((t) => t.us >= 1).sort((a, b) => b.us - a.us);
  console.log(
    `${mode} ${rate > 0 ? `open ${rate}/s` : `closed window ${window}`}: ${Math.round(n / seconds)} cmd/s, ${((cpu.user + cpu.system) / n).toFixed(1)} us CPU/command (sys ${(cpu.system / n).toFixed(1)}), ` +
      `${batches} producer batches (${(n / Math.max(1, batches)).toFixed(1)} commands each), latency p50 ${l.p50.toFixed(2)} ms, p99 ${l.p99.toFixed(2)} ms, max ${l.max.toFixed(1)} ms; threads ${threads.map((t) => t.us.toFixed(0)).join('/')} us`,
  );
  await main.root.close();
  removeTempDir(dir);
}
