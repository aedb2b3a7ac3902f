/**
 * DESIGN invariant 2: acknowledged means durable, and a command is all or nothing. A child process runs
 * the runtime with default durability under continuous load and prints each acknowledged command; the
 * test SIGKILLs it at some moment, reopens the data dir in-process and checks that every acknowledged
 * command is in the log, whole (its events, its partition entries and its idempotency record), with
 * seqs and partition offsets contiguous. Three kills at different moments hit the same data dir, so
 * later runs also start from a dir that was killed mid-write.
 */
import { describe, expect, it } from 'vitest';
import { builtinDomains, type EventEnvelope, type Runtime } from '../../src/index.js';
import { runTsScript } from '../support/child-process.js';
import { crashyDomain } from '../support/crashy-domain.js';
import { expectContiguousPartitions, expectContiguousSeqs, foldAccount } from '../support/log-checks.js';
import { useRuntimes } from '../support/runtimes.js';

const writer = new URL('../support/durability-writer.ts', import.meta.url);

interface Ack {
  type: string;
  id: string;
  commandId: string;
  version: number;
  events: number;
}

function parseAcks(lines: readonly string[]): Ack[] {
  return lines
    .filter((l) => l.startsWith('ack '))
    .map((l) => {
      const [, type, id, commandId, version, events] = l.split(' ');
      return { type: type!, id: id!, commandId: commandId!, version: Number(version), events: Number(events) };
    });
}

/** Events per command the writer sends, by aggregate type. */
const EVENTS_PER_COMMAND: Record<string, number> = { account: 1, crashy: 3 };

function checkLog(rt: Runtime, acks: readonly Ack[]): void {
  // 1. Partition logs: offsets 0..n-1, each entry resolves to a stored event at that position.
  const partitions = expectContiguousPartitions(rt.log);
  const inPartitions = partitions.flat().length;

  // 2. Streams: seq 1..n; every command's events are all there (count per commandId) with its idempotency record.
  let inStreams = 0;
  for (const type of ['account', 'crashy']) {
    for (const id of rt.log.iterateStreamIds(type)) {
      const events = [...rt.log.iterateStream(type, id)];
      inStreams += events.length;
      expectContiguousSeqs(events, `${type}/${id}`);
      const byCommand = new Map<string, EventEnvelope[]>();
      for (const e of events) {
        const c = e.meta.commandId;
        expect(c, `${type}/${id}#${e.seq} carries its commandId`).toBeDefined();
        byCommand.set(c!, [...(byCommand.get(c!) ?? []), e]);
      }
      for (const [commandId, of] of byCommand) {
        expect(of.length, `events of command ${commandId}`).toBe(EVENTS_PER_COMMAND[type]);
        expect(rt.log.findCommand(type, id, commandId)).toMatchObject({ first: of[0]!.seq, last: of[of.length - 1]!.seq });
      }
      if (type === 'account') {
        const state = foldAccount(events);
        expect(state.open).toBe(true);
        expect(state.balance).toBeGreaterThanOrEqual(0);
      }
    }
  }
  // No event outside the partition logs, and no partition entry without its event.
  expect(inStreams).toBe(inPartitions);

  // 3. Every acknowledged command is there, at the version it was acknowledged with.
  for (const ack of acks) {
    expect(rt.log.findCommand(ack.type, ack.id, ack.commandId), `acknowledged ${ack.commandId}`).toMatchObject({ first: ack.version - ack.events + 1, last: ack.version });
    const last = rt.log.readEvent(ack.type, ack.id, ack.version);
    expect(last?.meta.commandId, `${ack.type}/${ack.id}#${ack.version}`).toBe(ack.commandId);
  }
}

describe('durability under kill -9', () => {
  const runtimes = useRuntimes('durability');

  it('keeps every acknowledged command, whole, when the writer is SIGKILLed at three different moments', async () => {
    const dataDir = await runtimes.dataDir();
    const acked: Ack[] = [];
    for (const killAfterAcks of [1, 300, 1500]) {
      const child = runTsScript(writer, [dataDir]);
      await child.waitForLines(1 + killAfterAcks); // 'ready', then the acks
      const lines = await child.kill();
      expect(await child.exited).toBe('SIGKILL');
      const acks = parseAcks(lines);
      expect(acks.length).toBeGreaterThanOrEqual(killAfterAcks);
      acked.push(...acks);

      const rt = await runtimes.start({ dataDir, workers: 1, domains: [...builtinDomains, crashyDomain] });
      checkLog(rt, acked);
      // The reopened runtime's partition map agrees with the log, and its live state with the fold.
      expect(rt.partitions().map((p) => p.offset)).toEqual(Array.from({ length: rt.partitionCount }, (_, p) => rt.log.partitionHead(p)));
      const sample = acks[acks.length - 1]!;
      expect((await rt.load(sample.type, sample.id)).version).toBeGreaterThanOrEqual(sample.version);
      await runtimes.close(rt);
    }
  }, 120_000);
});
