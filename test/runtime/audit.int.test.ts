/**
 * The audit stream (`$audit/lifecycle`, domain/audit.ts): every runtime has it, whatever `domains` it
 * was given; it is not one of the listed aggregate types (so no HTTP route is made for it); the runtime
 * appends to it with `audit`, once per command id; what it refuses is refused before anything is written.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { AUDIT_STREAM, AUDIT_TYPE, auditDecider, ErrorCodes } from '../../src/index.js';
import { builtinDomains } from '../../src/runtime/index.js';
import { useRuntimes } from '../support/runtimes.js';

const runtimes = useRuntimes('audit');

describe('the audit stream', () => {
  it('records each lifecycle operation once per command id, in order, and is not a listed aggregate type', async () => {
    const rt = await runtimes.start();
    expect(rt.aggregateTypes).toEqual(['account', 'video']);
    expect(rt.decider(AUDIT_TYPE)).toBe(auditDecider);

    const first = await rt.audit('RetentionSet', { target: { aggregateType: 'account', id: 'acc-1' }, by: 'ops', details: { maxCount: 10 } }, { commandId: 'retention-1' });
    expect(first.version).toBe(1);
    const again = await rt.audit('RetentionSet', { target: { aggregateType: 'account', id: 'acc-1' }, by: 'ops', details: { maxCount: 10 } }, { commandId: 'retention-1' });
    expect(again.duplicate).toBe(true);
    await rt.audit('SubjectForgotten', { target: { subject: 'customer-7' } });

    const events = await rt.history(AUDIT_TYPE, AUDIT_STREAM);
    expect(events.map((e) => [e.seq, e.type, e.data])).toEqual([
      [1, 'RetentionSet', { target: { aggregateType: 'account', id: 'acc-1' }, by: 'ops', details: { maxCount: 10 } }],
      [2, 'SubjectForgotten', { target: { subject: 'customer-7' }, by: null, details: {} }],
    ]);
    expect((await rt.load(AUDIT_TYPE, AUDIT_STREAM)).state).toEqual({ recorded: 2 });
  });

  it('refuses a record with no target, an unknown kind or a bad id, and writes nothing', async () => {
    const rt = await runtimes.start();
    const bad = [
      rt.audit('RetentionSet', { target: {} }),
      rt.audit('Erased' as never, { target: { subject: 's-1' } }),
      rt.audit('StreamDeleted', { target: { aggregateType: 'account', id: 'not an id' } }),
    ];
    for (const p of bad) await expect(p).rejects.toMatchObject({ code: ErrorCodes.InvalidCommand });
    expect(rt.log.streamHead(AUDIT_TYPE, AUDIT_STREAM).version).toBe(0);
  });

  it('is there with a runtime given only its own domains', async () => {
    const rt = await runtimes.start({ domains: [builtinDomains[0]!] });
    expect(rt.aggregateTypes).toEqual(['account']);
    expect((await rt.audit('StreamTombstoned', { target: { aggregateType: 'account', id: 'a' } })).version).toBe(1);
  });

  it('refuses a domain module whose aggregate type claims the system prefix', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'eventide-audit-'));
    try {
      const file = join(dir, 'fake-audit.mjs');
      writeFileSync(file, "export default { type: '$ledger', snapshotVersion: 1, publicCommands: [], commands: {}, initialState: () => ({}), decide: () => [], evolve: (s) => s };");
      await expect(runtimes.start({ domains: [...builtinDomains, pathToFileURL(file)] })).rejects.toMatchObject({ code: ErrorCodes.InvalidOptions, message: expect.stringContaining('names starting with $') });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
