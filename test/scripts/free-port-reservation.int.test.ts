/**
 * freePort's reservation across processes: two test processes whose random picks coincide never get
 * the same port (a restarted nats-server once found its route port bound by another test's server), and
 * a killed holder's reservation is free again at once.
 */
import { execFileSync, spawn } from 'node:child_process';
import { describe, expect, it, vi } from 'vitest';
import { freePort } from '../../scripts/cluster/free-port.js';

/** A child process whose first pick is the fixed "random" value `r` (then real ones); prints its port. */
const childPick = (r: number): number =>
  Number(
    execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', `const real = Math.random; let first = true; Math.random = () => (first ? ((first = false), ${r}) : real()); const { freePort } = await import('./scripts/cluster/free-port.ts'); console.log(await freePort());`], {
      encoding: 'utf8',
    }).trim(),
  );

describe('freePort reservations', () => {
  it('never hands out a port this process or another one still holds, even when the random picks coincide', async () => {
    const r = 0.123456;
    const spy = vi.spyOn(Math, 'random').mockReturnValueOnce(r).mockReturnValueOnce(r);
    try {
      const first = await freePort();
      // The same pick again in this process: the port is passed over for the next (real) random one.
      const second = await freePort();
      expect(second).not.toBe(first);
      // Another process whose first pick is the same: it too passes over the port this one holds.
      const other = childPick(r);
      expect(other).not.toBe(first);
      expect(other).toBeGreaterThanOrEqual(10_000);
    } finally {
      spy.mockRestore();
    }
  });

  it('frees a reservation when its process is killed with SIGKILL: the kernel drops the lock, nothing goes stale', async () => {
    const r = 0.654321;
    // A child reserves its first pick, says which port, and stays alive until killed.
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', `const real = Math.random; let first = true; Math.random = () => (first ? ((first = false), ${r}) : real()); const { freePort } = await import('./scripts/cluster/free-port.ts'); console.log(await freePort()); setInterval(() => {}, 1000);`], { stdio: ['ignore', 'pipe', 'inherit'] });
    const childPort = await new Promise<number>((resolve) => child.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))));
    const spy = vi.spyOn(Math, 'random').mockReturnValueOnce(r);
    try {
      // While the child lives, the same pick is passed over.
      expect(await freePort()).not.toBe(childPort);
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
      spy.mockReturnValueOnce(r);
      expect(await freePort()).toBe(childPort);
    } finally {
      spy.mockRestore();
      child.kill('SIGKILL');
    }
  });
});
