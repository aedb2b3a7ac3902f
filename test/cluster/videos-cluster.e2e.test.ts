/**
 * The video pipeline in cluster mode, with real processes: one nats-server, three eventide servers
 * started as `npm start` starts one (only the cluster variables set), real ffmpeg (a clip made by the
 * test). Server `a` runs a gated ffmpeg that blocks inside every encode (test/video/support/media.ts),
 * so it can be killed while an encode is certainly running.
 *
 * - An upload through one server is recorded in a partition that server serves and encoded there; its
 *   status, events, list entry, renditions and thumbnail are read through the two others, which fetch
 *   the files from the object store: the same bytes and validators on every server, Range requests too.
 * - An upload through `a`, kill -9 of `a` mid-encode: the partition's new owner resumes the encode from
 *   the log (attempt 2) with the source from the object store; the video ends SUCCEEDED with only
 *   attempt 2's renditions recorded, each readable, the same, through both survivors.
 */
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assignPartitions } from '../../src/cluster/index.js';
import { partitionOf } from '../../src/partition/index.js';
import { partitionsOf, sharing, startClusterServers, stopClusterServers, type ClusterServer } from '../support/cluster-servers.js';
import { NATS_MISSING, natsServerAvailable, startNats, type NatsCluster } from '../support/nats-servers.js';
import { startServer } from '../support/server-child.js';
import { makeTempDir, removeDir } from '../support/temp-dirs.js';
import { binaries, decodeErrors, gatedFfmpeg, isRunning, makeClip, probe } from '../video/support/media.js';

const available = natsServerAvailable();
const PARTITIONS = 6;

interface VideoBody {
  id: string;
  version: number;
  status: string;
  attempt: number;
  renditions: { height: number; bytes: number; url: string }[];
  thumbnail?: string;
}
interface EventBody {
  seq: number;
  type: string;
  data: Record<string, unknown>;
}

let dir: string;
let nats: NatsCluster;
let servers: ClusterServer[];
let clip: Buffer;
let orphanPid = 0;
let gateStarted: () => Promise<number>;
let gateMarker: string;
const envOf = (nodeId: string): Record<string, string> => ({
  PARTITIONS: String(PARTITIONS),
  WORKERS: '1',
  EVENTIDE_NATS: nats.urls[0]!,
  EVENTIDE_NODE_ID: nodeId,
  EVENTIDE_GROUP: 'videos',
  EVENTIDE_LEASE_MS: '2000',
  FFPROBE_PATH: binaries.ffprobe,
  VIDEO_JOBS: '1',
});
const byId = (id: string): ClusterServer => servers.find((s) => s.nodeId === id)!;

async function upload(url: string): Promise<{ status: number; id: string }> {
  const res = await fetch(`${url}/videos`, { method: 'POST', headers: { 'content-type': 'video/mp4' }, body: clip });
  const body = (await res.json()) as { id: string };
  return { status: res.status, id: body.id };
}

async function video(url: string, id: string): Promise<{ status: number; body: VideoBody; forwardedTo: string | null }> {
  const res = await fetch(`${url}/videos/${id}`);
  return { status: res.status, body: (await res.json()) as VideoBody, forwardedTo: res.headers.get('x-eventide-forwarded-to') };
}

/** Polls the video through `url` until its status is one of `statuses` (the test's timeout is the limit). */
async function until(url: string, id: string, statuses: string[]): Promise<VideoBody> {
  for (;;) {
    const v = await video(url, id).catch(() => null);
    if (v?.status === 200 && statuses.includes(v.body.status)) return v.body;
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** A read's JSON body, after the 503s of a partition changing hands (retried after their `Retry-After`). */
async function readJson<T>(url: string): Promise<T> {
  for (;;) {
    const res = await fetch(url);
    if (res.status !== 503) {
      expect(res.status).toBe(200);
      return (await res.json()) as T;
    }
    await res.body?.cancel();
    await new Promise((r) => setTimeout(r, 1000 * Number(res.headers.get('retry-after') ?? 1)));
  }
}

async function file(url: string, headers: Record<string, string> = {}): Promise<{ status: number; bytes: Buffer; headers: Headers }> {
  const res = await fetch(url, { headers });
  return { status: res.status, bytes: Buffer.from(await res.arrayBuffer()), headers: res.headers };
}

/**
 * Resolves once every server names, for every partition, the owner the group's assignment gives it:
 * `sharing` only says each owns some, and partitions may still move then (an encode moving with them
 * would take another attempt).
 */
async function settled(): Promise<void> {
  const target = assignPartitions(servers.map((s) => s.nodeId), PARTITIONS);
  for (;;) {
    const views = await Promise.all(servers.map((s) => partitionsOf(s.url).catch(() => undefined)));
    if (views.every((v) => v?.partitions.every((p) => p.owner === target[p.partition]))) return;
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function owner(id: string, via: ClusterServer): Promise<string | undefined> {
  const p = partitionOf(id, PARTITIONS);
  return (await partitionsOf(via.url)).partitions.find((x) => x.partition === p)?.owner;
}

describe.skipIf(!available)(available ? 'the video pipeline on three cluster servers (1 nats-server)' : `the video pipeline on three cluster servers (skipped: ${NATS_MISSING})`, () => {
  beforeAll(async () => {
    dir = await makeTempDir('videos-cluster');
    clip = await readFile(await makeClip(dir, 'clip.mp4', { width: 640, height: 360, seconds: 2 }));
    const gate = await gatedFfmpeg(dir);
    gateStarted = () => gate.started();
    gateMarker = join(dir, 'gated.pid');
    nats = await startNats(1);
    servers = await startClusterServers(['a', 'b', 'c'], {
      natsUrl: nats.urls[0]!,
      partitions: PARTITIONS,
      group: 'videos',
      envOf: (nodeId) => ({ FFMPEG_PATH: nodeId === 'a' ? gate.path : binaries.ffmpeg, FFPROBE_PATH: binaries.ffprobe, VIDEO_JOBS: '1' }),
    });
    await sharing(servers);
    await settled();
  }, 120_000);

  afterAll(async () => {
    if (orphanPid && (await isRunning(orphanPid))) process.kill(orphanPid, 'SIGKILL');
    if (servers) await stopClusterServers(servers);
    await nats?.stop();
    await removeDir(dir);
  }, 60_000);

  it('encodes an upload on the server that took it, and serves its files through every server from the object store', async () => {
    const b = byId('b');
    const up = await upload(b.url);
    expect(up.status).toBe(202);
    // The id was chosen in a partition b serves: b records and encodes it.
    expect(await owner(up.id, b)).toBe('b');

    const done = await until(byId('c').url, up.id, ['SUCCEEDED', 'FAILED']);
    expect(done, JSON.stringify(done)).toMatchObject({ status: 'SUCCEEDED', attempt: 1 });
    expect(done.renditions.map((r) => r.height)).toEqual([240, 360]);
    // Read through a server that does not serve the partition: the owner answered.
    const viaA = await video(byId('a').url, up.id);
    expect(viaA.forwardedTo).toBe('b');
    expect(viaA.body).toEqual(done);
    const viaB = await video(b.url, up.id);
    expect(viaB.forwardedTo).toBeNull();
    expect(viaB.body).toEqual(done);

    // The events and the list, through a non-owner.
    const events = await readJson<{ events: EventBody[] }>(`${byId('a').url}/videos/${up.id}/events`);
    expect(events.events.map((e) => e.seq)).toEqual(events.events.map((_, i) => i + 1));
    expect(events.events.at(-1)?.type).toBe('VideoProcessingSucceeded');
    const list = await readJson<{ videos: VideoBody[] }>(`${byId('c').url}/videos?status=SUCCEEDED`);
    expect(list.videos.find((v) => v.id === up.id)).toEqual(done);

    // Each rendition: the same bytes and validators through all three servers (a and c fetch it from
    // the object store on first use); it decodes, at its height.
    for (const r of done.renditions) {
      const got = await Promise.all(servers.map((s) => file(`${s.url}${r.url}`)));
      for (const g of got) {
        expect(g.status).toBe(200);
        expect(g.headers.get('content-type')).toBe('video/mp4');
        expect(g.bytes.length).toBe(r.bytes);
        expect(g.bytes.equals(got[0]!.bytes)).toBe(true);
        expect(g.headers.get('etag')).toBe(got[0]!.headers.get('etag'));
        expect(g.headers.get('last-modified')).toBe(got[0]!.headers.get('last-modified'));
      }
      const copy = join(dir, `b-${r.height}.mp4`);
      await writeFile(copy, got[1]!.bytes);
      expect(await decodeErrors(copy)).toBe('');
      expect((await probe(copy)).streams.find((s) => s.codec_type === 'video')?.height).toBe(r.height);
      // A Range request and a conditional one through a non-owner.
      const range = await file(`${byId('c').url}${r.url}`, { range: 'bytes=100-199' });
      expect(range.status).toBe(206);
      expect(range.headers.get('content-range')).toBe(`bytes 100-199/${r.bytes}`);
      expect(range.bytes.equals(got[0]!.bytes.subarray(100, 200))).toBe(true);
      // fetch adds `Cache-Control: no-cache` to a conditional request unless it has one (the Fetch
      // standard), and a server must then answer in full: say max-age=0 instead, as a browser revalidating.
      const cached = await file(`${byId('a').url}${r.url}`, { 'if-none-match': got[0]!.headers.get('etag')!, 'cache-control': 'max-age=0' });
      expect(cached.status).toBe(304);
    }
    // A cancel through a non-owner reaches the owner: a finished video refuses it (409), as on one server.
    const cancel = await fetch(`${byId('a').url}/videos/${up.id}/cancel`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(cancel.status).toBe(409);
    expect(((await cancel.json()) as { error: string }).error).toBe('InvalidVideoStatus');
    // No such video, on every partition (served by a or forwarded): 404, as on one server.
    const missing = new Map<number, string>();
    for (let n = 0; missing.size < PARTITIONS; n++) missing.set(partitionOf(`v-none-${n}`, PARTITIONS), `v-none-${n}`);
    for (const id of missing.values()) {
      const r = await fetch(`${byId('a').url}/videos/${id}/cancel`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      expect(r.status).toBe(404);
      expect((await fetch(`${byId('a').url}/videos/${id}`)).status).toBe(404);
    }

    const thumb = await file(`${byId('c').url}/videos/${up.id}/thumbnail`);
    expect(thumb.status).toBe(200);
    expect(thumb.headers.get('content-type')).toBe('image/jpeg');
    expect(thumb.bytes.subarray(0, 2).toString('hex')).toBe('ffd8');
  }, 180_000);

  it('cancels a running encode through a server that does not own the video: the owner stops its ffmpeg', async () => {
    const a = byId('a');
    const up = await upload(a.url);
    expect(up.status).toBe(202);
    expect(await owner(up.id, a)).toBe('a');
    const pid = await gateStarted();
    expect((await until(byId('b').url, up.id, ['PROCESSING'])).attempt).toBe(1);
    const res = await fetch(`${byId('b').url}/videos/${up.id}/cancel`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ reason: 'not wanted' }) });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-eventide-forwarded-to')).toBe('a');
    expect(((await res.json()) as VideoBody).status).toBe('CANCELLED');
    // The owner's reactor saw VideoCancelled in its log and killed the encode.
    while (await isRunning(pid)) await new Promise((r) => setTimeout(r, 50));
    expect((await video(byId('c').url, up.id)).body.status).toBe('CANCELLED');
    // The next gated encode writes its own pid.
    await rm(gateMarker, { force: true });
  }, 120_000);

  it('stops the encode on a paused owner once it runs again without its partition; the new owner finished it', async () => {
    const a = byId('a');
    const up = await upload(a.url);
    expect(up.status).toBe(202);
    expect(await owner(up.id, a)).toBe('a');
    const pid = await gateStarted();
    expect((await until(byId('b').url, up.id, ['PROCESSING'])).attempt).toBe(1);
    // Longer than its lease: the others take its partitions, and the new owner resumes the encode.
    a.child.child.kill('SIGSTOP');
    let done: VideoBody;
    try {
      done = await until(byId('b').url, up.id, ['SUCCEEDED', 'FAILED']);
    } finally {
      a.child.child.kill('SIGCONT');
    }
    expect(done, JSON.stringify(done)).toMatchObject({ status: 'SUCCEEDED', attempt: 2 });
    // Running again, a learns it lost the partition: its reactor kills the encode it still had.
    while (await isRunning(pid)) await new Promise((r) => setTimeout(r, 50));
    const said = a.child.stdout().split('\n').filter((l) => l.includes('video partitions moved to another server')).map((l) => JSON.parse(l) as { videos: string[] });
    expect(said.some((l) => l.videos.includes(up.id))).toBe(true);
    await sharing(servers);
    await settled();
    // What a recorded while it owned the partition, and nothing after: attempts 1 then 2, success last.
    const events = await readJson<{ events: EventBody[] }>(`${byId('c').url}/videos/${up.id}/events`);
    expect(events.events.map((e) => e.seq)).toEqual(events.events.map((_, i) => i + 1));
    expect(events.events.filter((e) => e.type === 'VideoProcessingStarted').map((e) => e.data.attempt)).toEqual([1, 2]);
    expect(events.events.filter((e) => e.type === 'RenditionCompleted').every((e) => e.data.attempt === 2)).toBe(true);
    expect(events.events.at(-1)).toMatchObject({ type: 'VideoProcessingSucceeded', data: { attempt: 2 } });
    expect(await readJson<VideoBody>(`${a.url}/videos/${up.id}`)).toEqual(done);
    await rm(gateMarker, { force: true });
  }, 180_000);

  it('resumes an encode on the partition\'s new owner after its owner was killed with SIGKILL mid-encode', async () => {
    const a = byId('a');
    const up = await upload(a.url);
    expect(up.status).toBe(202);
    expect(await owner(up.id, a)).toBe('a');
    // a's encode is blocked inside its (gated) ffmpeg: attempt 1 is certainly mid-encode.
    orphanPid = await gateStarted();
    expect((await until(byId('b').url, up.id, ['PROCESSING'])).attempt).toBe(1);
    await a.child.kill('SIGKILL');

    const survivors = servers.filter((s) => s.nodeId !== 'a');
    const done = await until(survivors[0]!.url, up.id, ['SUCCEEDED', 'FAILED']);
    expect(done, JSON.stringify(done)).toMatchObject({ status: 'SUCCEEDED', attempt: 2 });
    const newOwner = await owner(up.id, survivors[0]!);
    expect(['b', 'c']).toContain(newOwner);

    // The log: seqs 1..n, attempts 1 then 2, only attempt 2's renditions recorded, success last.
    const events = await readJson<{ events: EventBody[] }>(`${survivors[1]!.url}/videos/${up.id}/events`);
    expect(events.events.map((e) => e.seq)).toEqual(events.events.map((_, i) => i + 1));
    expect(events.events.filter((e) => e.type === 'VideoProcessingStarted').map((e) => e.data.attempt)).toEqual([1, 2]);
    expect(events.events.filter((e) => e.type === 'RenditionCompleted').map((e) => [e.data.attempt, e.data.height])).toEqual([
      [2, 240],
      [2, 360],
    ]);
    expect(events.events.at(-1)).toMatchObject({ type: 'VideoProcessingSucceeded', data: { attempt: 2 } });

    // Both survivors give the same state and the same files, whole and decodable.
    for (const s of survivors) expect((await video(s.url, up.id)).body).toEqual(done);
    for (const r of done.renditions) {
      const got = await Promise.all(survivors.map((s) => file(`${s.url}${r.url}`)));
      for (const g of got) {
        expect(g.status).toBe(200);
        expect(g.bytes.length).toBe(r.bytes);
        expect(g.bytes.equals(got[0]!.bytes)).toBe(true);
        expect(g.headers.get('etag')).toBe(got[0]!.headers.get('etag'));
      }
      const copy = join(dir, `resumed-${r.height}.mp4`);
      await writeFile(copy, got[0]!.bytes);
      expect(await decodeErrors(copy)).toBe('');
    }
  }, 240_000);

  it('starts again, after kill -9, with the videos of every partition in its list, and serves their files', async () => {
    const a = byId('a');
    // Its data dir holds videos of partitions it will not serve at first: indexed from its cache.
    a.child = startServer(a.dataDir, { env: { ...envOf('a'), FFMPEG_PATH: binaries.ffmpeg } });
    a.url = await a.child.listening;
    const list = await readJson<{ videos: VideoBody[] }>(`${a.url}/videos?limit=1000`);
    const viaB = await readJson<{ videos: VideoBody[] }>(`${byId('b').url}/videos?limit=1000`);
    expect(list.videos.map((v) => [v.id, v.status]).sort()).toEqual(viaB.videos.map((v) => [v.id, v.status]).sort());
    expect(list.videos.map((v) => v.status).sort()).toEqual(['CANCELLED', 'SUCCEEDED', 'SUCCEEDED', 'SUCCEEDED']);
    for (const v of list.videos.filter((x) => x.status === 'SUCCEEDED')) {
      for (const r of v.renditions) {
        const [here, there] = await Promise.all([file(`${a.url}${r.url}`), file(`${byId('b').url}${r.url}`)]);
        expect(here.status).toBe(200);
        expect(here.bytes.equals(there.bytes)).toBe(true);
      }
    }
  }, 120_000);
});