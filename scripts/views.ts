/**
 * Offline history tools for a stopped server's data dir:
 *
 *   node --import tsx scripts/views.ts rebuild <view> [--data-dir DIR]
 *   node --import tsx scripts/views.ts reconcile <view> [--repair] [--data-dir DIR]
 *   node --import tsx scripts/views.ts inspect <aggregateType> <id> [--data-dir DIR]
 *
 * (`npm run views -- ...` runs the same.) DIR defaults to $DATA_DIR or ./data. The data dir is locked
 * while this runs, so it refuses to touch a data dir a live server holds.
 *
 * Exit codes: 0 done (reconcile: no drift, or repaired); 1 reconcile found drift (without --repair) or
 * damaged partitions it could not check (listed in `damaged`);
 * 2 usage, or no event log in the data dir (a mistyped path is never turned into an empty log); 3 the data
 * dir is in use (DataDirLocked); 4 any other error (its code is printed).
 */
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import cliProgress from 'cli-progress';
import { ErrorCodes, RuntimeError } from '../src/kernel/index.js';
import { LmdbLog, hasLog, lockDataDir, noLogError, type EventLog } from '../src/log/index.js';
import { builtinDomains, loadDeciders, toModuleUrl, versionedLog } from '../src/runtime/index.js';
import type { AnyDecider } from '../src/domain/index.js';
import { builtinViews, loadProjections, rebuildOffline, reconcileOffline } from '../src/projections/index.js';

const USAGE = 'usage: views.ts rebuild <view> | reconcile <view> [--repair] | inspect <aggregateType> <id>   [--data-dir DIR]';

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { 'data-dir': { type: 'string' }, repair: { type: 'boolean', default: false }, json: { type: 'boolean', default: false } },
  });
  const [command, a, b] = positionals;
  const dataDir = resolve(values['data-dir'] ?? process.env['DATA_DIR'] ?? './data');
  if (!command || !a || (command === 'inspect' && !b)) {
    console.error(USAGE);
    return 2;
  }
  // A mistyped path must not become an empty log (opening writes one): say so, write nothing.
  if (!hasLog(dataDir)) {
    console.error(noLogError(dataDir).message);
    return 2;
  }
  const deciders = await loadDeciders(builtinDomains.map(toModuleUrl));
  const lock = lockDataDir(dataDir, `scripts/views.ts ${command}`);
  // Events at the deciders' current schema versions, as the server's views and time machine read them.
  const log = versionedLog(LmdbLog.open(dataDir), deciders.values());
  try {
    if (command === 'inspect') return inspect(log, deciders.get(a), a, b!, values.json ?? false);
    const projection = (await loadProjections(builtinViews.map(toModuleUrl))).find((p) => p.name === a);
    if (!projection) {
      console.error(`no view named ${JSON.stringify(a)}`);
      return 2;
    }
    const total = Array.from({ length: log.partitions }, (_, p) => log.partitionHead(p)).reduce((x, y) => x + y, 0);
    const bar = new cliProgress.SingleBar({ format: `${command} ${a} [{bar}] {percentage}% | {value}/{total} events`, stream: process.stderr, noTTYOutput: false }, cliProgress.Presets.shades_classic);
    bar.start(total, 0);
    const onProgress = (n: number) => {
      bar.update(n);
      bar.render();
    };
    if (command === 'rebuild') {
      const r = await rebuildOffline(log, projection, onProgress);
      bar.stop();
      console.log(JSON.stringify({ view: a, ...r }));
      return 0;
    }
    if (command === 'reconcile') {
      const r = await reconcileOffline(log, projection, { repair: values.repair ?? false, onProgress });
      bar.stop();
      console.log(JSON.stringify(r, null, 2));
      // Damaged partitions could not be checked: never report them as clean.
      return (r.drift > 0 && !values.repair) || r.damaged.length > 0 ? 1 : 0;
    }
    bar.stop();
    console.error(USAGE);
    return 2;
  } finally {
    await log.close();
    lock.release();
  }
}

/** Prints a stream's history and its state after each event. */
function inspect(log: EventLog, decider: AnyDecider | undefined, aggregateType: string, id: string, json: boolean): number {
  if (!decider) {
    console.error(`no aggregate type ${JSON.stringify(aggregateType)}`);
    return 2;
  }
  let state = decider.initialState();
  let n = 0;
  for (const e of log.iterateStream(aggregateType, id)) {
    state = decider.evolve(state, e);
    n++;
    if (json) console.log(JSON.stringify({ seq: e.seq, type: e.type, ts: new Date(e.ts).toISOString(), data: e.data, state }));
    else console.log(`#${e.seq} ${new Date(e.ts).toISOString()} ${e.type} ${JSON.stringify(e.data)}\n    -> ${JSON.stringify(state)}`);
  }
  if (n === 0) {
    console.error(`no ${aggregateType} stream ${JSON.stringify(id)}`);
    return 1;
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    const code = RuntimeError.is(err) ? err.code : 'Internal';
    console.error(`${code}: ${(err as Error).message ?? String(err)}`);
    process.exit(code === ErrorCodes.DataDirLocked ? 3 : 4);
  },
);
