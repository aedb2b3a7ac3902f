/**
 * `eventide retention`, `eventide delete`, `eventide undelete`: the data-lifecycle operations
 * (docs/data-lifecycle.md) on a stopped data dir. Each opens a runtime on the dir (its lock keeps a
 * running server out: exit 3), runs the same call the HTTP routes run, recorded in the audit stream as
 * done by `cli`, and closes it. Read models catch up with a deletion when the server starts again.
 */
import { createRuntime, type Runtime } from '../../src/runtime/index.js';
import { hasLog, noLogError, type RetentionSettings } from '../../src/log/index.js';
import { EXIT, UsageError, dataDirOf, out, parse } from './common.js';

const BY = 'cli';

async function withRuntime<T>(dataDirFlag: string | undefined, f: (runtime: Runtime) => Promise<T>): Promise<T> {
  const dataDir = dataDirOf(dataDirFlag);
  if (!hasLog(dataDir)) throw noLogError(dataDir);
  const runtime = await createRuntime({ dataDir, workers: 1 });
  try {
    return await f(runtime);
  } finally {
    await runtime.close();
  }
}

/** A flag's value as a positive integer (a usage error otherwise). */
function positive(name: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  if (!/^\d{1,16}$/.test(raw) || Number(raw) < 1 || !Number.isSafeInteger(Number(raw))) throw new UsageError(`--${name} takes a positive integer, got ${JSON.stringify(raw)}`);
  return Number(raw);
}

/** `retention <type> [<id>]`: prints the settings; with --max-age/--max-count/--truncate-before sets them; --clear removes them. */
export async function retentionCommand(args: string[], help: (topic: string) => number): Promise<number> {
  const { values, positionals } = parse(args, {
    'max-age': { type: 'string' },
    'max-count': { type: 'string' },
    'truncate-before': { type: 'string' },
    clear: { type: 'boolean', default: false },
  });
  if (values.help) return help('retention');
  const [aggregateType, id, extra] = positionals;
  if (!aggregateType || extra) throw new UsageError('retention takes an aggregate type and, for one stream, its id');
  const settings: RetentionSettings = {};
  const maxAge = positive('max-age', values['max-age']);
  const maxCount = positive('max-count', values['max-count']);
  const truncateBefore = positive('truncate-before', values['truncate-before']);
  if (maxAge !== undefined) settings.maxAge = maxAge;
  if (maxCount !== undefined) settings.maxCount = maxCount;
  if (truncateBefore !== undefined) settings.truncateBefore = truncateBefore;
  const setting = Object.keys(settings).length > 0;
  if (setting && values.clear) throw new UsageError('--clear removes the settings: give it alone');
  const target = id === undefined ? { aggregateType } : { aggregateType, id };
  return withRuntime(values['data-dir'], async (runtime) => {
    const result = setting || values.clear ? await runtime.setRetention(target, values.clear ? null : settings, { by: BY }) : runtime.retention(target);
    out(values.json, result, () => [
      `${aggregateType}${id === undefined ? ' (every stream)' : ` ${id}`}: ${result.settings === null ? 'no settings of its own' : JSON.stringify(result.settings)}${'changed' in result ? (result.changed ? ' (changed)' : ' (unchanged)') : ''}`,
      ...(result.stream ? [`  applies ${JSON.stringify(result.stream.effective)} (${result.stream.source}); version ${result.stream.head}, first readable ${result.stream.firstVersion}`] : []),
    ]);
    return EXIT.ok;
  });
}

/** `delete <type> <id> [--hard]` and `undelete <type> <id>`. */
function lifecycleCommand(action: 'delete' | 'undelete') {
  return async (args: string[], help: (topic: string) => number): Promise<number> => {
    const { values, positionals } = parse(args, action === 'delete' ? { hard: { type: 'boolean', default: false } } : {});
    if (values.help) return help(action);
    const [aggregateType, id, extra] = positionals;
    if (!aggregateType || !id || extra) throw new UsageError(`${action} takes an aggregate type and an id`);
    const hard = (values as { hard?: boolean }).hard === true;
    return withRuntime(values['data-dir'], async (runtime) => {
      const r = action === 'delete' ? await runtime.deleteStream(aggregateType, id, { hard, by: BY }) : await runtime.undeleteStream(aggregateType, id, { by: BY });
      out(values.json, r, () => [`${aggregateType} ${id}: ${r.changed ? `${action === 'undelete' ? 'undeleted' : hard ? 'tombstoned' : 'deleted'} at version ${r.version}` : `already so (version ${r.version})`}`]);
      return EXIT.ok;
    });
  };
}

export const deleteCommand = lifecycleCommand('delete');
export const undeleteCommand = lifecycleCommand('undelete');
