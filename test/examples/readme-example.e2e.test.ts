import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);

describe("the README's embedded example (examples/bank.ts)", () => {
  it('runs and prints the states, the typed rejection and the history the README shows', async () => {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'examples/bank.ts'], { cwd: new URL('../..', import.meta.url).pathname });
    expect(stdout).toContain("2 { owner: 'Ada', balance: 500, open: true }");
    expect(stdout).toContain('InsufficientFunds { balance: 500, amount: 900 }');
    expect(stdout).toContain('1 AccountOpened {"owner":"Ada"}');
    expect(stdout).toContain('2 Deposited {"amount":500}');
  });
});
