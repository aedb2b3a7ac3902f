import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { harness, type Harness } from '../server/helpers.js';

const run = promisify(execFile);
let h: Harness;
beforeAll(async () => {
  h = await harness();
  await h.listen();
});
afterAll(async () => {
  await h?.close();
});

describe("the README's client example (examples/client.ts)", () => {
  it('runs against a server and prints what the README shows', async () => {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'examples/client.ts', h.url, 'acc-readme'], { cwd: new URL('../..', import.meta.url).pathname });
    const lines = [
      "2 { owner: 'Ada', balance: 5000, open: true }",
      'true 2',
      '422 InsufficientFunds { balance: 5000, amount: 99999 }',
      "{ owner: 'Ada', balance: 3800, open: true }",
      '5000',
      "0 -> 3800 [ 'Deposited', 'Withdrawn' ]",
      "1 AccountOpened { owner: 'Ada' }",
      '3 Withdrawn { amount: 1200 }',
      'feed 1 AccountOpened',
      'feed 3 Withdrawn',
    ];
    expect(lines.filter((line) => !stdout.includes(line))).toEqual([]);
    expect(stdout).toMatch(/owner: 'Ada',\s+balance: 3800/); // the view's row
  });
});
