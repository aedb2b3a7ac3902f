/**
 * Progress of a long command on stderr: a bar on a terminal; plain lines elsewhere (a pipe, a CI log,
 * journald), at every tenth of the way and at the end, since a bar's carriage returns there print a
 * stale `0% | 0/100` and nothing else.
 */
import cliProgress from 'cli-progress';

export interface Progress {
  update(done: number): void;
  stop(): void;
}

export function progress(label: string, total: number, unit = 'events', stream: NodeJS.WriteStream = process.stderr): Progress {
  if (stream.isTTY) {
    const bar = new cliProgress.SingleBar({ format: `${label} [{bar}] {percentage}% | {value}/{total} ${unit}`, stream }, cliProgress.Presets.shades_classic);
    bar.start(total, 0);
    return {
      update: (n) => bar.update(Math.min(n, total)),
      stop: () => bar.stop(),
    };
  }
  let lastTenth = -1;
  let last = 0;
  const line = (n: number): void => {
    const pct = total === 0 ? 100 : Math.floor((Math.min(n, total) / total) * 100);
    stream.write(`${label}: ${pct}% (${n}/${total} ${unit})\n`);
  };
  return {
    update(n) {
      last = n;
      const tenth = total === 0 ? 10 : Math.floor((Math.min(n, total) / total) * 10);
      if (tenth > lastTenth && tenth < 10) {
        lastTenth = tenth;
        line(n);
      }
    },
    stop: () => line(Math.max(last, total)),
  };
}
