/**
 * A decider's `publicCommands` decides what the HTTP command route takes: a decider written in plain JS
 * that lists none exposes no command over HTTP (in-process callers still send them all), and a list
 * naming a command the decider lacks is refused when the runtime opens (a typo would hide a command).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { builtinDomains, loadDeciders, toModuleUrl } from '../../src/runtime/index.js';
import { request } from '../support/raw-http.js';
import { harness, tempDir, type Harness } from './helpers.js';

const modules = tempDir('eventide-public-commands-');
const decider = (publicCommands: string) => `
export default {
  type: 'note',
  snapshotVersion: 1,
  ${publicCommands}
  commands: { Write: { type: 'object', required: ['text'], additionalProperties: false, properties: { text: { type: 'string' } } } },
  initialState: () => ({ text: null }),
  decide: (command) => [{ type: 'Written', data: { text: command.data.text } }],
  evolve: (state, event) => ({ text: event.data.text }),
};
`;
const unlisted = join(modules.dir, 'note-unlisted.mjs');
const typo = join(modules.dir, 'note-typo.mjs');
writeFileSync(unlisted, decider(''));
writeFileSync(typo, decider("publicCommands: ['Wirte'],"));

let h: Harness;
beforeAll(async () => {
  h = await harness({}, { domains: [...builtinDomains, pathToFileURL(unlisted)] });
  await h.listen();
});
afterAll(async () => {
  await h?.close();
  modules.remove();
});

describe('publicCommands', () => {
  it('exposes no command of a decider that lists none: 400 UnknownCommandType with known: []', async () => {
    const r = await request(h.url, { method: 'POST', path: '/aggregates/note/n-1/commands', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ type: 'Write', data: { text: 'hi' } }) });
    expect(r.status).toBe(400);
    expect(r.json()).toMatchObject({ error: 'UnknownCommandType', known: [] });
    expect(h.runtime.log.streamHead('note', 'n-1').version).toBe(0);
  });

  it('still runs every command for in-process callers', async () => {
    const r = await h.runtime.execute('note', 'n-1', { type: 'Write', data: { text: 'hi' } });
    expect(r.version).toBe(1);
  });

  it('refuses a list that names a command the decider does not have', async () => {
    await expect(loadDeciders([toModuleUrl(typo)])).rejects.toMatchObject({ code: 'InvalidOptions', message: expect.stringContaining('publicCommands') });
  });
});
