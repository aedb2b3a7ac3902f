/**
 * Following and takeover on the JetStream log (src/log/jetstream/partition-follower.ts,
 * record-committer.ts `confirmTip`), as two nodes would use it: two JetStreamLog instances on one log,
 * each with its own cache, on one nats-server. A node follows the partitions another node writes: its
 * cache holds them at the same offsets, each local commit announced once, in order. A takeover stops
 * following, reads nothing the follower already applied, and confirms the tip with a marker
 * conditional on it: from then on the old writer is refused. A takeover on a cache that is behind
 * catches up first; one racing the old writer's batch ends with the cache at the stream's tip, whoever
 * won. (A stream-info answer made stale by a paused leader cannot be produced on demand; the race case
 * exercises the same rule: a marker refused because the stream holds more makes the node read on.)
 */
import { expect, it } from 'vitest';
import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { JetStreamLog } from '../../src/log/index.js';
import type { RuntimeError } from '../../src/kernel/index.js';
import { outcomeOf, rejectionOf } from '../support/errors.js';
import { waitFor } from '../support/cluster-members.js';
import { deposits, ownerWriter } from '../log/contract/contract-support.js';
import { describeOnNats, partitionsOf } from '../log/jetstream/jetstream-support.js';
import { restoreStream, takeStreamAway } from '../support/jetstream-streams.js';

/** A leases hook the test sets by hand: partition -> lease epoch. */
function leases(): { epochOf(p: number): number | null; held: Map<number, number> } {
  const held = new Map<number, number>();
  return { held, epochOf: (p) => held.get(p) ?? null };
}

/** Every `onApplied` range a log reports, per partition. */
function appliedRanges(log: JetStreamLog): Map<number, Array<[number, number]>> {
  const ranges = new Map<number, Array<[number, number]>>();
  log.onApplied((p, from, to) => {
    const list = ranges.get(p) ?? [];
    list.push([from, to]);
    ranges.set(p, list);
  });
  return ranges;
}

describeOnNats('following and takeover on the JetStream log', 1, (fx) => {
  it('follows the partitions another node writes (same offsets, each commit announced once, in order); a takeover reads nothing again and fences the old writer', async () => {
    const name = fx.newName();
    const bLeases = leases();
    bLeases.held.set(0, 1).set(1, 1);
    const b = await fx.open(name, { partitions: 2, leases: bLeases });
    const aLeases = leases();
    const a = await fx.open(name, { leases: aLeases });
    const ranges = appliedRanges(a);
    a.follow(0);
    a.follow(1);

    const { writer } = ownerWriter(b, 'node-b');
    const version = new Map<string, number>();
    const batch = async (round: number) => {
      const staged = [];
      for (const [id, p] of [['x', 0], ['y', 1], ['z', 0]] as const) {
        const v = version.get(id) ?? 0;
        staged.push(writer.stageAppend(deposits(id, v, p, 1 + (round % 2), { commandId: `${id}-${round}` })));
        version.set(id, v + 1 + (round % 2));
      }
      await writer.commit(staged);
    };
    for (let round = 0; round < 6; round++) await batch(round);

    const caughtUp = () => JSON.stringify(partitionsOf(a)) === JSON.stringify(partitionsOf(b)) && [0, 1].every((p) => a.tip(p).seq === b.tip(p).seq && a.followLag(p) === 0);
    await waitFor('node a to hold what node b wrote', caughtUp, 30_000);
    expect(a.findCommand('account', 'z', 'z-5')).toBeDefined();
    // Announced once each, in order: the ranges tile the partition from 0 to its head.
    for (const p of [0, 1]) {
      const list = ranges.get(p)!;
      expect(list[0]![0]).toBe(0);
      expect(list.every(([from, to], i) => to > from && (i === 0 || from === list[i - 1]![1]))).toBe(true);
      expect(list[list.length - 1]![1]).toBe(b.partitionHead(p));
    }

    // Node a takes partition 0 over: nothing to read again, and the tip is confirmed with its marker.
    ranges.clear();
    const head = b.partitionHead(0);
    aLeases.held.set(0, 2);
    const tip = await a.confirmTip(0, () => aLeases.held.get(0) ?? null);
    expect(ranges.get(0)).toBeUndefined();
    expect(a.followLag(0)).toBeNull();
    expect(tip).toEqual({ seq: b.tip(0).seq + 1, offset: head, leaseEpoch: 2 });
    expect(a.tip(0)).toEqual(tip);

    // The old writer (its lease not even lapsed here) is refused: another writer's message holds the sequence it expected ...
    const refused = await rejectionOf(writer.commit([writer.stageAppend(deposits('x', version.get('x')!, 0))]));
    expect(refused.code).toBe('Fenced');
    // ... and the new owner appends right after what node b wrote (the marker takes no offset).
    const aw = ownerWriter(a, 'node-a', [0]).writer;
    await aw.commit([aw.stageAppend(deposits('x', version.get('x')!, 0, 1, { commandId: 'x-by-a' }))]);
    const rebuilt = await fx.open(name);
    expect(partitionsOf(rebuilt)[0]).toEqual(partitionsOf(a)[0]);
    expect(partitionsOf(a)[0]!.at(-1)).toBe(`x#${version.get('x')! + 1}@${head}`);
    // Partition 1 is still followed.
    expect(a.followLag(1)).toBe(0);
  });

  it('a takeover on a cache that is behind catches up first, and refuses without a valid lease or with an older one than the log carries', async () => {
    const name = fx.newName();
    const bLeases = leases();
    bLeases.held.set(0, 3);
    const b = await fx.open(name, { partitions: 1, leases: bLeases });
    const a = await fx.open(name, { leases: leases() });
    const ranges = appliedRanges(a);
    const { writer } = ownerWriter(b, 'node-b');
    await writer.commit([writer.stageAppend(deposits('x', 0, 0, 3)), writer.stageAppend(deposits('y', 0, 0, 2))]);
    expect(a.partitionHead(0)).toBe(0);

    expect((await rejectionOf(a.confirmTip(0, () => null))).code).toBe('NotOwner');
    // The catch-up before the refusal was applied and announced: the cache is current anyway.
    expect(ranges.get(0)).toEqual([[0, 5]]);
    const older = await rejectionOf(a.confirmTip(0, () => 2));
    expect(older.code).toBe('NotOwner');
    expect(older.message).toContain('lease epoch 3');

    const tip = await a.confirmTip(0, () => 4);
    expect(tip).toEqual({ seq: 2, offset: 5, leaseEpoch: 4 });
    expect(partitionsOf(a)).toEqual(partitionsOf(b));
  });

  it('a takeover racing the old writer\'s last batch: either wins, and the new owner\'s cache ends at the stream\'s tip with every stored event', async () => {
    const name = fx.newName();
    const bLeases = leases();
    bLeases.held.set(0, 1);
    const b = await fx.open(name, { partitions: 1, leases: bLeases });
    const a = await fx.open(name, { leases: leases() });
    const outcomes = new Set<string>();
    let version = 0;
    let epoch = 1;
    for (let round = 0; round < 6; round++) {
      // Node b (re)gains the partition: it reads what the log holds, markers included, then writes.
      bLeases.held.set(0, ++epoch);
      await b.probeWrite();
      const { writer } = ownerWriter(b, `node-b-${round}`);
      await writer.commit([writer.stageAppend(deposits('x', version, 0))]);
      version++;
      // Either one first: the takeover asked first reads a tip the batch may move before its marker goes.
      const race = (): [Promise<unknown>, Promise<{ seq: number }>] => {
        const stage = () => writer.commit([writer.stageAppend(deposits('x', version, 0, 1, { commandId: `race-${round}` }))]);
        if (round % 2 === 0) {
          const batch = stage();
          return [batch, a.confirmTip(0, () => epoch + 1)];
        }
        const marker = a.confirmTip(0, () => epoch + 1);
        return [stage(), marker];
      };
      const [batch, marker] = await Promise.allSettled(race());
      expect(marker.status).toBe('fulfilled');
      outcomes.add(outcomeOf(batch));
      if (batch.status === 'fulfilled') version++;
      epoch++;
      const tip = (marker as PromiseFulfilledResult<{ seq: number }>).value;
      const fresh = await fx.open(name);
      expect(tip.seq).toBe(fresh.tip(0).seq);
      expect(partitionsOf(a)).toEqual(partitionsOf(fresh));
      expect(partitionsOf(a)[0]).toHaveLength(version);
      await fresh.close();
    }
    expect([...outcomes].every((o) => o === 'ok' || o === 'Fenced')).toBe(true);
  });

  it('a takeover whose catch-up the old writer outruns: its marker, conditional on what it read, is refused, and it reads on before it serves', async () => {
    const name = fx.newName();
    const bLeases = leases();
    bLeases.held.set(0, 1);
    const b = await fx.open(name, { partitions: 1, leases: bLeases });
    const a = await fx.open(name, { leases: leases() });
    const { writer } = ownerWriter(b, 'node-b');
    // Node a is 300 messages behind: its catch-up commits them in several local commits.
    for (let v = 0; v < 300; v++) await writer.commit([writer.stageAppend(deposits('x', v, 0))]);
    let late: Promise<unknown> | undefined;
    const ranges: Array<[number, number]> = [];
    a.onApplied((_p, from, to) => {
      ranges.push([from, to]);
      // After the first local commit of the catch-up, the tip it read is already behind: node b writes once more.
      late ??= writer.commit([writer.stageAppend(deposits('x', 300, 0, 1, { commandId: 'late' }))]);
    });
    const tip = await a.confirmTip(0, () => 2);
    const outcome = outcomeOf((await Promise.allSettled([late!]))[0]!);
    const fresh = await fx.open(name);
    expect(tip.seq).toBe(fresh.tip(0).seq);
    expect(partitionsOf(a)).toEqual(partitionsOf(fresh));
    if (outcome === 'ok') {
      // The late batch landed before the marker: the marker was refused, and node a read it too.
      expect(tip).toEqual({ seq: 302, offset: 301, leaseEpoch: 2 });
      expect(ranges.at(-1)![1]).toBe(301);
      expect(a.findCommand('account', 'x', 'late')).toBeDefined();
    } else {
      // The marker won (a box too slow for node b's one publish during node a's 300 applies): node b is fenced.
      expect(outcome).toBe('Fenced');
      expect(tip).toEqual({ seq: 301, offset: 300, leaseEpoch: 2 });
    }
  });

  it('reports a followed partition it cannot apply (a message that is not an eventide batch), applies nothing past it, and keeps following the others', async () => {
    const name = fx.newName();
    const b = await fx.open(name, { partitions: 2 });
    const a = await fx.open(name);
    const failures: RuntimeError[] = [];
    a.onFollowFailed((p, err) => failures.push(err));
    a.follow(0);
    a.follow(1);
    const { writer } = ownerWriter(b, 'node-b');
    await writer.commit([writer.stageAppend(deposits('x', 0, 0)), writer.stageAppend(deposits('y', 0, 1))]);
    const nc = await connect({ servers: fx.nats.urls });
    await jetstream(nc).publish(`evt.${name}.p.0`, new TextEncoder().encode('not a batch'));
    await nc.close();
    await waitFor('the follower to report partition 0', () => failures.length > 0, 30_000);
    expect(failures[0]!.code).toBe('CorruptLog');
    expect(failures[0]!.message).toContain(`EVT_${name}_P0#2`);
    expect(partitionsOf(a)[0]).toEqual(['x#1@0']);
    await waitFor('partition 1 followed still', () => partitionsOf(a)[1]!.length === 1 && a.followLag(1) === 0, 30_000);
  });

  it('a followed partition whose stream goes away fails (reported at each try), and recovers once it is back, restored as it was (reported once), and the writer goes on', async () => {
    const name = fx.newName();
    const b = await fx.open(name, { partitions: 2 });
    const a = await fx.open(name);
    const failures: RuntimeError[] = [];
    const recoveries: number[] = [];
    a.onFollowFailed((_p, err) => failures.push(err));
    a.onFollowRecovered((p) => recoveries.push(p));
    a.follow(0);
    const { writer } = ownerWriter(b, 'node-b');
    await writer.commit([writer.stageAppend(deposits('x', 0, 0))]);
    await waitFor('node a to follow the first batch', () => partitionsOf(a)[0]!.length === 1, 30_000);

    const nc = await connect({ servers: fx.nats.urls });
    try {
      const jsm = await jetstreamManager(nc);
      const saved = await takeStreamAway(jsm, `EVT_${name}_P0`);
      await waitFor('the follower to report partition 0', () => failures.length > 0, 60_000);
      expect(recoveries).toEqual([]);
      await restoreStream(jsm, saved);
    } finally {
      await nc.close();
    }
    await waitFor('the follower to recover', () => recoveries.length > 0, 60_000);
    expect(recoveries).toEqual([0]);
    // Following goes on from where it was: the writer's next batch (its condition holds on the restored stream) is applied.
    await writer.commit([writer.stageAppend(deposits('x', 1, 0))]);
    await waitFor('node a to follow the next batch', () => partitionsOf(a)[0]!.length === 2, 30_000);
    expect(partitionsOf(a)[0]).toEqual(['x#1@0', 'x#2@1']);
    expect(recoveries).toEqual([0]);
  }, 120_000);
});
