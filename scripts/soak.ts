/**
 * `npm run soak`: the kill -9 soak of issue 10. Starts the real server (`src/server/main.ts`) as a child
 * process, writes to it over HTTP from this process, SIGKILLs it at random moments, restarts it at once
 * on the same data dir, and checks after every restart that every acknowledged write is in the log
 * exactly once. The loop lives in scripts/soak/run.ts (the CI test runs the same code, shorter).
 *
 * Exit code: 0 when nothing was lost, duplicated or otherwise wrong and every unknown write was
 * resolved; 1 when the check found something; 2 on bad options.
 */
import { parseArgs } from 'node:util';
import { DEFAULT_SOAK_OPTIONS, formatSoakResult, runSoak, type SoakOptions } from './soak/run.js';

const HELP = `npm run soak -- [options]

  --cycles N          kill -9 cycles (default ${DEFAULT_SOAK_OPTIONS.cycles})
  --writers N         concurrent HTTP writer loops (default ${DEFAULT_SOAK_OPTIONS.writers})
  --accounts N        accounts the writers deposit into (default ${DEFAULT_SOAK_OPTIONS.accounts})
  --kill-min-ms N     earliest kill after the writers start (default ${DEFAULT_SOAK_OPTIONS.killMinMs})
  --kill-max-ms N     latest kill after the writers start (default ${DEFAULT_SOAK_OPTIONS.killMaxMs})
  --restart-after W   exit: restart once the killed server is reaped (default);
                      signal: right after SIGKILL, while it may still be dying
  --full-check-every N  re-read every stream in full every N cycles (default ${DEFAULT_SOAK_OPTIONS.fullCheckEvery}; 0 = only at the end)
  --partitions N      PARTITIONS for a new data dir (default: the server's)
  --workers N         WORKERS (default: the server's)
  --data-dir DIR      data dir (default: a temporary dir, removed unless the soak fails)
  --keep              keep the temporary data dir
  --seed N            seed of the kill moments and amounts (default ${DEFAULT_SOAK_OPTIONS.seed})
  --json              print the result as JSON on stdout (progress goes to stderr)
  --quiet             no progress lines
  -h, --help          this text
`;

function int(name: string, raw: string | undefined, fallback: number, min: number, max: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new Error(`--${name} must be an integer in [${min}, ${max}], got ${JSON.stringify(raw)}`);
  return n;
}

function parse(argv: string[]): { options: SoakOptions; json: boolean; quiet: boolean } | null {
  const { values } = parseArgs({
    args: argv,
    options: {
      cycles: { type: 'string' },
      writers: { type: 'string' },
      accounts: { type: 'string' },
      'kill-min-ms': { type: 'string' },
      'kill-max-ms': { type: 'string' },
      'restart-after': { type: 'string' },
      'full-check-every': { type: 'string' },
      partitions: { type: 'string' },
      workers: { type: 'string' },
      'data-dir': { type: 'string' },
      keep: { type: 'boolean', default: false },
      seed: { type: 'string' },
      json: { type: 'boolean', default: false },
      quiet: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) return null;
  const d = DEFAULT_SOAK_OPTIONS;
  const restartAfter = values['restart-after'] ?? d.restartAfter;
  if (restartAfter !== 'exit' && restartAfter !== 'signal') throw new Error(`--restart-after must be exit or signal, got ${JSON.stringify(restartAfter)}`);
  const killMinMs = int('kill-min-ms', values['kill-min-ms'], d.killMinMs, 0, 600_000);
  const killMaxMs = int('kill-max-ms', values['kill-max-ms'], Math.max(d.killMaxMs, killMinMs), killMinMs, 600_000);
  const options: SoakOptions = {
    ...d,
    cycles: int('cycles', values.cycles, d.cycles, 1, 100_000),
    writers: int('writers', values.writers, d.writers, 1, 1_024),
    accounts: int('accounts', values.accounts, d.accounts, 1, 100_000),
    killMinMs,
    killMaxMs,
    restartAfter,
    fullCheckEvery: int('full-check-every', values['full-check-every'], d.fullCheckEvery, 0, 100_000),
    partitions: values.partitions === undefined ? undefined : int('partitions', values.partitions, 0, 1, 65_536),
    workers: values.workers === undefined ? undefined : int('workers', values.workers, 0, 1, 256),
    dataDir: values['data-dir'],
    keepDataDir: values.keep,
    seed: int('seed', values.seed, d.seed, 0, 2 ** 32 - 1),
  };
  return { options, json: values.json, quiet: values.quiet };
}

async function main(): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (parsed === null) {
    process.stdout.write(HELP);
    return 0;
  }
  const { options, json, quiet } = parsed;
  const progress = json ? process.stderr : process.stdout;
  const result = await runSoak({ ...options, log: quiet ? undefined : (line) => progress.write(`${line}\n`) });
  process.stdout.write(json ? `${JSON.stringify(result, null, 2)}\n` : `${formatSoakResult(result)}\n`);
  return result.ok ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
