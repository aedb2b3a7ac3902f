/**
 * `eventide forget <subject>`: crypto-shredding on a stopped data dir (a live server: POST
 * /admin/subjects/<subject>/forget). Opens a runtime on the dir (its lock keeps a server out meanwhile),
 * forgets the subject (its key deleted and scrubbed, `SubjectForgotten` recorded with `by: cli`), closes.
 */
import { hasLog, noLogError } from '../../src/log/index.js';
import { createRuntime } from '../../src/runtime/index.js';
import { EXIT, UsageError, dataDirOf, out, parse } from './common.js';

export async function forgetCommand(args: string[], help: (topic: string) => number): Promise<number> {
  const { values, positionals } = parse(args, {});
  if (values.help) return help('forget');
  const [subject, extra] = positionals;
  if (!subject || extra) throw new UsageError('forget takes one subject id');
  const dataDir = dataDirOf(values['data-dir']);
  if (!hasLog(dataDir)) throw noLogError(dataDir);
  const runtime = await createRuntime({ dataDir, workers: 1 });
  try {
    const r = await runtime.forget(subject, { by: 'cli' });
    out(values.json, r, () => [
      `${r.deleted ? 'forgot' : 'already forgotten:'} ${r.subject}: key ${r.scrubbed ? 'deleted and scrubbed from keys.mdb' : 'deleted (its bytes may remain in a free page of keys.mdb until reused)'}; audit record #${r.audit.version}${r.audit.duplicate ? ' (recorded before)' : ''}`,
    ]);
    return EXIT.ok;
  } finally {
    await runtime.close();
  }
}
