/**
 * `eventide serve`: the server `npm start` runs, with flags for the common variables. It runs in this
 * process until SIGTERM/SIGINT (run-server.ts installs the handlers and exits).
 */
import { logStartFailure, runServer } from '../../src/server/index.js';
import { UsageError, parse } from './common.js';

const FLAGS = { port: 'PORT', host: 'HOST', partitions: 'PARTITIONS', workers: 'WORKERS', 'log-level': 'LOG_LEVEL', domains: 'DOMAINS', 'data-dir': 'DATA_DIR' } as const;

export async function serveCommand(args: string[], help: (topic: string) => number): Promise<number> {
  const { values, positionals } = parse(args, {
    port: { type: 'string' },
    host: { type: 'string' },
    partitions: { type: 'string' },
    workers: { type: 'string' },
    'log-level': { type: 'string' },
    domains: { type: 'string' },
  });
  if (values.help) return help('serve');
  if (positionals.length > 0) throw new UsageError(`serve takes no positional arguments (got ${JSON.stringify(positionals[0])})`);
  // The flags are the environment variables npm start reads, so both check them with one set of rules.
  const env: Record<string, string | undefined> = { ...process.env };
  for (const [flag, name] of Object.entries(FLAGS)) {
    const v = values[flag as keyof typeof FLAGS];
    if (v !== undefined) env[name] = v;
  }
  try {
    await runServer(env);
  } catch (err) {
    logStartFailure(err, env['LOG_LEVEL']);
    return 1;
  }
  return new Promise<number>(() => undefined); // serves until a signal; the handler exits
}
