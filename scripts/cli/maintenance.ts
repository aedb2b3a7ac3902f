/**
 * `eventide backup|restore|verify|salvage`: the storage-integrity tools on a data dir (see their help
 * texts in help.ts).
 *
 * Gotchas:
 * - Never open a data dir that has no log: a mistyped --data-dir must be refused, not turned into an
 *   empty log (every command checks first; the log modules open read-only).
 * - `backup` takes the data-dir lock too: a second process must not open the environment of a live
 *   server (one process per data dir, DESIGN invariant 9; a writer once failed with MDB_BAD_TXN,
 *   "mdb_page_touch no parent", while another process copied its environment). A live server's hot
 *   backup is `POST /admin/backup`, which copies from inside the server. `verify` and `salvage` need the
 *   server stopped too (use `GET /admin/verify` on a live one).
 */
import { resolve } from 'node:path';
import { ErrorCodes, RuntimeError } from '../../src/kernel/index.js';
import { backupLog, LmdbLog, hasLog, lockDataDir, noLogError, restoreBackup, salvageLog, verifyDataDir, type SalvageReport, type VerifyReport } from '../../src/log/index.js';
import { partitionOf } from '../../src/partition/index.js';
import { builtinViews, loadProjections, rebuildOffline } from '../../src/projections/index.js';
import { builtinDomains, loadDeciders, toModuleUrl, versionedLog } from '../../src/runtime/index.js';
import { EXIT, UsageError, dataDirOf, out, parse } from './common.js';

type Help = (topic: string) => number;

export async function backupCommand(args: string[], help: Help): Promise<number> {
  const { values, positionals } = parse(args, { 'no-compact': { type: 'boolean', default: false } });
  if (values.help) return help('backup');
  const [dest, extra] = positionals;
  if (!dest || extra) throw new UsageError('backup takes one destination directory');
  const dataDir = dataDirOf(values['data-dir']);
  let lock;
  try {
    lock = lockDataDir(dataDir, 'eventide backup');
  } catch (err) {
    if (!RuntimeError.is(err, ErrorCodes.DataDirLocked)) throw err;
    throw new RuntimeError(ErrorCodes.DataDirLocked, `${err.message}; a running server takes its own hot backup: POST /admin/backup {"name": "..."}`, err.details);
  }
  let r;
  try {
    r = await backupLog(dataDir, resolve(dest), { compact: !values['no-compact'], verify: { partitionOf } });
  } finally {
    lock.release();
  }
  out(values.json, r, () => [`backup ${r.dest}: ${r.ok ? 'verified' : 'DAMAGED (the copy does not verify: the source log is damaged)'}`, `  ${r.info.events} events in ${r.info.partitions} partitions, ${r.info.bytes} bytes${r.info.compacted ? ', compacted' : ''}, in ${r.durationMs} ms`, ...(r.ok ? [] : verifyText(r.verify))]);
  return r.ok ? EXIT.ok : EXIT.damaged;
}

export async function restoreCommand(args: string[], help: Help): Promise<number> {
  const { values, positionals } = parse(args, { force: { type: 'boolean', default: false } });
  if (values.help) return help('restore');
  const [backup, extra] = positionals;
  if (!backup || extra) throw new UsageError('restore takes one backup directory');
  if (!values['data-dir']) throw new UsageError('restore needs --data-dir (where to restore to)');
  const r = await restoreBackup(resolve(backup), dataDirOf(values['data-dir']), { force: values.force, verify: { partitionOf } });
  const events = r.verify.partitions.reduce((n, p) => n + p.events, 0);
  out(values.json, r, () => [`restored ${r.backup} into ${r.dataDir}: verified, ${events} events in ${r.verify.partitionCount} partitions${r.info ? ` (backup of ${r.info.created})` : ''}`]);
  return EXIT.ok;
}

export async function verifyCommand(args: string[], help: Help): Promise<number> {
  const { values, positionals } = parse(args, { 'max-problems': { type: 'string' } });
  if (values.help) return help('verify');
  if (positionals.length > 0) throw new UsageError('verify takes no positional arguments');
  const max = values['max-problems'] === undefined ? 100 : Number(values['max-problems']);
  if (!Number.isSafeInteger(max) || max < 1) throw new UsageError('--max-problems must be a positive integer');
  const dataDir = dataDirOf(values['data-dir']);
  if (!hasLog(dataDir)) throw noLogError(dataDir);
  const lock = lockDataDir(dataDir, 'eventide verify');
  try {
    const r = await verifyDataDir(dataDir, { partitionOf, maxProblems: max });
    out(values.json, r, () => verifyText(r));
    return r.ok ? EXIT.ok : EXIT.damaged;
  } finally {
    lock.release();
  }
}

export async function salvageCommand(args: string[], help: Help): Promise<number> {
  const { values, positionals } = parse(args, { into: { type: 'string' }, 'no-pages': { type: 'boolean', default: false }, 'no-views': { type: 'boolean', default: false } });
  if (values.help) return help('salvage');
  if (positionals.length > 0) throw new UsageError('salvage takes no positional arguments');
  if (!values['data-dir'] || !values.into) throw new UsageError('salvage needs --data-dir (the damaged data dir) and --into (a new dir)');
  const report = await salvageLog(dataDirOf(values['data-dir']), resolve(values.into), { pages: !values['no-pages'] });
  const views = values['no-views'] ? [] : await rebuildViews(report.into);
  out(values.json, { ...report, views }, () => salvageText(report, views));
  return report.ok ? EXIT.ok : EXIT.damaged;
}

/** Views are derived: rebuilt from the salvaged log with the built-in projections (like `views rebuild`). */
async function rebuildViews(dataDir: string): Promise<Array<{ view: string; rows: number }>> {
  const lock = lockDataDir(dataDir, 'eventide salvage (views)');
  const log = versionedLog(LmdbLog.open(dataDir), (await loadDeciders(builtinDomains.map(toModuleUrl))).values());
  try {
    const out: Array<{ view: string; rows: number }> = [];
    for (const projection of await loadProjections(builtinViews.map(toModuleUrl))) {
      const r = await rebuildOffline(log, projection);
      out.push({ view: projection.name, rows: r.rows });
    }
    return out;
  } finally {
    await log.close();
    lock.release();
  }
}

function verifyText(r: VerifyReport): string[] {
  const events = r.partitions.reduce((n, p) => n + p.events, 0);
  const lines = [`verify ${r.dataDir}: ${r.ok ? 'ok' : 'DAMAGED'} (format ${r.formatVersion ?? '?'}, ${r.partitionCount} partitions, ${events} intact events) in ${r.durationMs} ms`];
  const problems = (b: { problems: { db: string; key: string; problem: string }[]; problemCount: number }) => [
    ...b.problems.map((p) => `    ${p.db} ${p.key}: ${p.problem}`),
    ...(b.problemCount > b.problems.length ? [`    ... and ${b.problemCount - b.problems.length} more`] : []),
  ];
  for (const p of r.partitions) lines.push(`  partition ${p.partition}: ${p.status === 'ok' ? 'ok' : `DAMAGED (${p.problemCount} problems)`}, ${p.events} events, ${p.indexed} indexed`, ...problems(p));
  if (r.other.status !== 'ok') lines.push(`  other: DAMAGED (${r.other.problemCount} problems)`, ...problems(r.other));
  return lines;
}

function salvageText(r: SalvageReport, views: Array<{ view: string; rows: number }>): string[] {
  const lines = [
    `salvage ${r.source} -> ${r.into}: ${r.eventsKept} events kept, ${r.eventsLost} lost in ${r.streamsCut} of ${r.streams} streams, in ${r.durationMs} ms`,
    `  derived: partition index, ${r.derived.commandIds} command ids, ${r.derived.pages} pages, no snapshots (they rebuild on hydration)${views.length ? `; views ${views.map((v) => `${v.view} (${v.rows} rows)`).join(', ')}` : ''}`,
  ];
  for (const l of r.lost) lines.push(`  lost ${l.aggregateType ?? '?'}/${l.id ?? '?'} seq ${l.seq ?? '?'}${l.toSeq !== undefined ? `..${l.toSeq}` : ''}: ${l.why}${l.key ? ` (key 0x${l.key})` : ''}`);
  for (const u of r.unreadable) lines.push(`  UNREADABLE ${u.db} after ${u.after}: ${u.error} (events there are lost without a name)`);
  if (r.quarantineFile) lines.push(`  lost events that could be decoded: ${r.quarantineFile}`);
  return lines;
}

