/**
 * `eventide views rebuild|reconcile` and `eventide inspect`: offline tools on a stopped server's data
 * dir (the dir is locked while they run, so a live server's is refused with DataDirLocked; on a live
 * server use the /views/:name/rebuild and /reconcile routes).
 */
import { ErrorCodes, RuntimeError } from '../../src/kernel/index.js';
import { LmdbLog, hasLog, lockDataDir, noLogError, type EventLog } from '../../src/log/index.js';
import { builtinDomains, loadDeciders, streamFold, toModuleUrl, versionedLog } from '../../src/runtime/index.js';
import type { AnyDecider } from '../../src/domain/index.js';
import { builtinViews, loadProjections, rebuildOffline, reconcileOffline } from '../../src/projections/index.js';
import { EXIT, UsageError, dataDirOf, out, parse, reportFailure } from './common.js';
import { progress } from './progress.js';

/** Opens the data dir's log (refusing a dir with no log: a mistyped path is never turned into an empty log), runs `f`, closes. */
async function withLog<T>(dataDirFlag: string | undefined, holder: string, f: (log: EventLog, deciders: Map<string, AnyDecider>) => Promise<T>): Promise<T> {
  const dataDir = dataDirOf(dataDirFlag);
  if (!hasLog(dataDir)) throw noLogError(dataDir);
  const deciders = await loadDeciders(builtinDomains.map(toModuleUrl));
  const lock = lockDataDir(dataDir, holder);
  // Events at the deciders' current schema versions, as the server's views and time machine read them.
  const log = versionedLog(LmdbLog.open(dataDir), deciders.values());
  try {
    return await f(log, deciders);
  } finally {
    await log.close();
    lock.release();
  }
}

async function projectionNamed(name: string) {
  const projections = await loadProjections(builtinViews.map(toModuleUrl));
  const projection = projections.find((p) => p.name === name);
  if (!projection) throw new UsageError(`no view named ${JSON.stringify(name)} (views: ${projections.map((p) => p.name).join(', ')})`);
  return projection;
}

const totalEvents = (log: EventLog): number => Array.from({ length: log.partitions }, (_, p) => log.partitionHead(p)).reduce((x, y) => x + y, 0);

/** `views rebuild <view>` / `views reconcile <view> [--repair]`. */
export async function viewsCommand(args: string[], help: (topic: string) => number): Promise<number> {
  const { values, positionals } = parse(args, { repair: { type: 'boolean', default: false } });
  if (values.help) return help('views');
  const [action, name, extra] = positionals;
  if (action !== 'rebuild' && action !== 'reconcile') throw new UsageError(`views takes rebuild or reconcile, not ${JSON.stringify(action ?? '')}`);
  if (!name || extra) throw new UsageError(`views ${action} takes one view name`);
  if (values.repair && action !== 'reconcile') throw new UsageError('--repair is for views reconcile');
  const projection = await projectionNamed(name);
  return withLog(values['data-dir'], `eventide views ${action}`, async (log) => {
    const bar = progress(`${action} ${name}`, totalEvents(log));
    if (action === 'rebuild') {
      const r = await rebuildOffline(log, projection, (n) => bar.update(n));
      bar.stop();
      out(values.json, { view: name, ...r }, () => [`rebuilt ${name}: ${r.rows} rows (generation ${r.generation})`]);
      return EXIT.ok;
    }
    const r = await reconcileOffline(log, projection, { repair: values.repair, onProgress: (n) => bar.update(n) });
    bar.stop();
    out(values.json, r, () => [
      `reconcile ${name}: ${r.checked} rows checked, ${r.drift} drifted${values.repair ? `, ${r.repaired} repaired` : ''}`,
      ...r.mismatches.map((m) => `  ${m.id}: view ${JSON.stringify(m.view)} but the log says ${JSON.stringify(m.truth)}`),
      ...r.damaged.map((d) => `  partition ${d.partition} not checked: ${d.code}: ${d.message}`),
    ]);
    // Damaged partitions could not be checked: never report them as clean.
    return (r.drift > 0 && !values.repair) || r.damaged.length > 0 ? EXIT.damaged : EXIT.ok;
  });
}

/** `inspect <aggregateType> <id>`: a stream's history and its state after each event. */
export async function inspectCommand(args: string[], help: (topic: string) => number): Promise<number> {
  const { values, positionals } = parse(args, {});
  if (values.help) return help('inspect');
  const [aggregateType, id, extra] = positionals;
  if (!aggregateType || !id || extra) throw new UsageError('inspect takes an aggregate type and an id');
  return withLog(values['data-dir'], 'eventide inspect', async (log, deciders) => {
    const decider = deciders.get(aggregateType);
    if (!decider) throw new UsageError(`no aggregate type ${JSON.stringify(aggregateType)} (types: ${[...deciders.keys()].join(', ')})`);
    let state = decider.initialState();
    const steps: Array<{ seq: number; type: string; ts: string; data: unknown; state: unknown }> = [];
    // The runtime's `$` events (a deletion) are folded as hydration folds them, never by the decider.
    const { evolve } = streamFold(decider);
    for (const e of log.iterateStream(aggregateType, id)) {
      state = evolve(state, e);
      steps.push({ seq: e.seq, type: e.type, ts: new Date(e.ts).toISOString(), data: e.data, state });
    }
    if (steps.length === 0) {
      reportFailure(new RuntimeError(ErrorCodes.NotFound, `no ${aggregateType} stream ${JSON.stringify(id)} in ${dataDirOf(values['data-dir'])}`), values.json, 'eventide inspect');
      return EXIT.notFound;
    }
    out(values.json, { aggregateType, id, version: steps.length, events: steps }, () => steps.map((s) => `#${s.seq} ${s.ts} ${s.type} ${JSON.stringify(s.data)}\n    -> ${JSON.stringify(s.state)}`));
    return EXIT.ok;
  });
}
