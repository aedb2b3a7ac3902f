/**
 * kill -9 in the middle of `forget` (crypto-shredding), in a real child process: after the key was
 * deleted and before the audit record was appended. What must hold: the subject is forgotten (its key
 * is gone, its owner reads null, its balance intact), and the audit record is not lost: the next start
 * appends it, once, with the first forget's command id and asker; a `forget` called again records
 * nothing new.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createRuntime, type AccountState } from '../../src/index.js';
import { runTsScript } from '../support/child-process.js';
import { useTempDirs } from '../support/temp-dirs.js';

const KESTREL = 'Kestrel Umbridgeworth-5150';
const tempDir = useTempDirs('forget-crash');

describe('a forget cut short by kill -9', () => {
  it('between the key deletion and the audit record: the subject stays forgotten and the next start records it once', async () => {
    const dir = await tempDir();
    const child = runTsScript(new URL('../support/forget-child.ts', import.meta.url), [dir]);
    await child.waitForLines(1);
    expect(await child.kill()).toEqual(['key-deleted']);

    const rt = await createRuntime({ dataDir: dir, workers: 1 });
    try {
      const audit = rt.log.readStream('$audit', 'lifecycle');
      expect(audit.map((e) => [e.type, e.data, e.meta.commandId])).toEqual([['SubjectForgotten', { target: { subject: 'acc-k' }, by: 'ops', details: {} }, 'forget-crash-1']]);
      expect((await rt.load<AccountState>('account', 'acc-k')).state).toEqual({ owner: null, balance: 300, open: true });
      expect((await rt.history('account', 'acc-k'))[0]!.data).toEqual({ owner: null });
      const again = await rt.forget('acc-k', { by: 'someone else' });
      expect(again).toEqual({ subject: 'acc-k', deleted: false, scrubbed: true, audit: { version: 1, duplicate: true } });
      expect(rt.log.readStream('$audit', 'lifecycle')).toHaveLength(1);
    } finally {
      await rt.close();
    }
    for (const f of readdirSync(dir, { withFileTypes: true }).filter((e) => e.isFile())) expect(readFileSync(join(dir, f.name)).includes(Buffer.from(KESTREL)), f.name).toBe(false);
  }, 120_000); // a child process loading tsx, then a runtime start: slow on a loaded box
});
