/** CPU time per thread of this process, from /proc (Linux): which thread pays for what. */
import { readdirSync, readFileSync } from 'node:fs';

/** CPU ticks (user+sys) per thread of this process, from /proc (Linux): which thread pays for what. */
export function threadTicks(): Map<string, { name: string; ticks: number }> {
  const out = new Map<string, { name: string; ticks: number }>();
  try {
    for (const tid of readdirSync('/proc/self/task')) {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const fields = stat.slice(close + 2).split(' ');
      out.set(tid, { name: stat.slice(stat.indexOf('(') + 1, close), ticks: Number(fields[11]) + Number(fields[12]) });
    }
  } catch {
    // not Linux: no per-thread figures
  }
  return out;
}

/** Seconds of CPU each thread used between two `threadTicks()` readings (clock ticks are 10 ms), busiest first. */
export function threadSeconds(before: Map<string, { name: string; ticks: number }>, after: Map<string, { name: string; ticks: number }>): Array<{ tid: string; name: string; seconds: number }> {
  return [...after]
    .map(([tid, t]) => ({ tid, name: t.name, seconds: (t.ticks - (before.get(tid)?.ticks ?? 0)) / 100 }))
    .filter((t) => t.seconds > 0)
    .sort((a, b) => b.seconds - a.seconds);
}

/** Each thread's CPU per operation between two readings, busiest first: `name#tid: 12.3 us, ...`. */
export function perOperation(before: Map<string, { name: string; ticks: number }>, after: Map<string, { name: string; ticks: number }>, operations: number): string {
  return threadSeconds(before, after)
    .map((t) => ({ ...t, us: (t.seconds * 1e6) / Math.max(1, operations) }))
    .filter((t) => t.us >= 0.5)
    .map((t) => `${t.name}#${t.tid}: ${t.us.toFixed(1)} us`)
    .join(', ');
}

/** CPU time (user + system, us) of the calling thread, from /proc (USER_HZ ticks of 10 ms); null where unavailable. */
export function threadCpuUs(): number | null {
  try {
    const fields = readFileSync('/proc/thread-self/stat', 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10_000;
  } catch {
    return null;
  }
}
