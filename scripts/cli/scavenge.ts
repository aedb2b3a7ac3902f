/**
 * `eventide scavenge [<type> [<id>]]`: one scavenge pass on a stopped data dir (docs/data-lifecycle.md,
 * "Scavenge"), as the server's background schedule and `POST /admin/scavenge` run it, recorded in the
 * audit stream as done by `cli`. It opens the runtime with the built-in views, as `npm start` runs them,
 * so their guard holds the pass to what they consumed (it waits for them to catch up with the log first)
 * and leaves the types they fold whole; `--domains`
 * (or DOMAINS) names the extra domain modules the server loads.
 */
import { createEventide } from '../../src/app/index.js';
import { builtinDomains } from '../../src/runtime/index.js';
import { hasLog, noLogError } from '../../src/log/index.js';
import { domainsFromEnv } from '../../src/server/index.js';
import { EXIT, UsageError, dataDirOf, out, parse } from './common.js';

/** How long the views may take to catch up with the log before the pass (a large log after an upgrade). */
const VIEWS_CATCH_UP_MS = 30 * 60_000;

export async function scavengeCommand(args: string[], help: (topic: string) => number): Promise<number> {
  const { values, positionals } = parse(args, { domains: { type: 'string' }, budget: { type: 'string' } });
  if (values.help) return help('scavenge');
  const [aggregateType, id, extra] = positionals;
  if (extra) throw new UsageError('scavenge takes at most an aggregate type and, for one stream, its id');
  const budget = values.budget === undefined ? undefined : Number(values.budget);
  if (budget !== undefined && (!Number.isSafeInteger(budget) || budget < 1 || budget > 100_000)) throw new UsageError(`--budget must be an integer from 1 to 100000, got ${JSON.stringify(values.budget)}`);
  const dataDir = dataDirOf(values['data-dir']);
  if (!hasLog(dataDir)) throw noLogError(dataDir);
  const domains = [...builtinDomains, ...domainsFromEnv({ DOMAINS: values.domains ?? process.env['DOMAINS'] })];
  const app = await createEventide({ dataDir, workers: 1, domains, scavengeEveryMs: 0 });
  try {
    // The views catch up first: the pass removes only what every one of them has read.
    const position = Array.from({ length: app.runtime.log.partitions }, (_, p) => app.runtime.log.partitionHead(p));
    for (const view of app.views.names()) await app.views.waitFor(view, position, VIEWS_CATCH_UP_MS);
    const report = await app.runtime.scavenge({ ...(aggregateType !== undefined ? { aggregateType } : {}), ...(id !== undefined ? { id } : {}), ...(budget !== undefined ? { budget } : {}), by: 'cli' });
    out(values.json, report, () => [
      `removed ${report.events} event(s) of ${report.streams} stream(s), ${report.pages} page(s), ${report.snapshots} snapshot(s), ${report.commands} command record(s); index of ${report.indexOffsets} offset(s)`,
      ...report.skipped.map((s) => `  left ${s.aggregateType ?? 'everything'}${s.id === undefined ? '' : ` ${s.id}`}: ${s.reason}`),
    ]);
    return EXIT.ok;
  } finally {
    await app.close();
  }
}
