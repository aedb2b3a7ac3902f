/**
 * The probes' main-thread CPU profile of a window of a run (not the seeding or the start-up): started
 * and stopped through the inspector, written as a `.cpuprofile` for bench/tools/cpuprofile-summary.ts.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';

/** Starts profiling this thread when `to` is set; the returned function stops and writes it there. */
export async function profileMainThread(to: string | undefined): Promise<() => Promise<void>> {
  if (!to) return async () => {};
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  return async () => {
    const { profile } = await session.post('Profiler.stop');
    writeFileSync(to, JSON.stringify(profile));
    session.disconnect();
  };
}
