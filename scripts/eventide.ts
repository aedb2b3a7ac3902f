#!/usr/bin/env node
/**
 * `eventide`: the operator's command line (`npm run eventide -- <command> ...`, or the `eventide` bin of
 * the built package).
 *
 *   eventide backup <dest> [--data-dir D] [--no-compact] [--json]
 *   eventide restore <backup> --data-dir D [--force] [--json]
 *   eventide verify [--data-dir D] [--max-problems N] [--json]
 *   eventide salvage --data-dir D --into NEW [--no-pages] [--no-views] [--json]
 *   eventide views rebuild|reconcile ... / eventide inspect ...   (scripts/views.ts)
 *
 * D defaults to $DATA_DIR, else ./data. Exit codes: 0 ok; 1 damage found (verify failed, a backup that
 * does not verify, salvage lost events); 2 usage (also: the data dir has no log); 3 the data dir is in
 * use (DataDirLocked); 4 any other error. On failure the error code is printed (`<Code>: message` on
 * stderr; with --json also `{ "error": "<Code>", "message" }` on stdout).
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
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ErrorCodes, RuntimeError } from '../src/kernel/index.js';
import { backupLog, LmdbLog, hasLog, lockDataDir, noLogError, restoreBackup, salvageLog, verifyDataDir, type SalvageReport, type VerifyReport } from '../src/log/index.js';
import { partitionOf } from '../src/partition/index.js';
import { builtinViews, loadProjections, rebuildOffline } from '../src/projections/index.js';
import { builtinDomains, loadDeciders, toModuleUrl, versionedLog } from '../src/runtime/index.js';

const EXIT = { ok: 0, damaged: 1, usage: 2, locked: 3, other: 4 } as const;

const EXIT_HELP = `Exit codes: 0 ok; 1 damage found (verify failed, salvage lost events); 2 usage or no log in the data dir;
3 the data dir is in use by another process (DataDirLocked); 4 any other error (its code is printed).`;

const HELP: Record<string, string> = {
  '': `usage: eventide <command> [options]

commands:
  backup <dest>         hot backup of the log into the new directory <dest> (safe while a server runs)
  restore <backup>      restore a backup into an empty (or, with --force, an existing) data dir
  verify                read every record, checksum and index entry; report damage per partition
  salvage               rebuild a NEW data dir from the intact events of a damaged one
  views ...             rebuild or reconcile a read model (scripts/views.ts)
  inspect <type> <id>   print a stream's history and states (scripts/views.ts)

Every command takes --help and --json. The data dir is --data-dir, else $DATA_DIR, else ./data.
${EXIT_HELP}`,
  backup: `usage: eventide backup <dest> [--data-dir D] [--no-compact] [--json]

Copies the log of D into the new directory <dest> (it must not exist) with LMDB's consistent copy,
compacted unless --no-compact, while a server may keep writing; then opens the copy read-only and
verifies it before reporting success. <dest> holds log.mdb and backup.json (format version,
partitions, events per partition, created, source, tool version).
${EXIT_HELP}`,
  restore: `usage: eventide restore <backup> --data-dir D [--force] [--json]

Copies the backup's log into D, which must be missing or empty; --force replaces the log of an existing
data dir (its server must be stopped). The restored log is verified; if it does not verify it is removed.
${EXIT_HELP}`,
  verify: `usage: eventide verify [--data-dir D] [--max-problems N] [--json]

Reads every record of every database of a stopped data dir: checksums (bound to each record's key),
each stream's seqs, each partition-index run, pages, command ids, snapshots; LMDB errors are reported.
The report is per partition (ok / damaged with up to N problems, default 100, and a count).
For a live server use GET /admin/verify.
${EXIT_HELP}`,
  salvage: `usage: eventide salvage --data-dir D --into NEW [--no-pages] [--no-views] [--json]

Writes a fresh log into NEW (never in place) with each stream's intact events up to its first gap or
damaged record, re-derives the partition index, command ids and pages (snapshots rebuild on hydration),
rebuilds the views, and lists exactly which events were lost (stream, seq, why). Lost events that could
still be decoded are written to NEW/salvage-quarantine.jsonl; the report is also in
NEW/salvage-report.json. D must be stopped.
${EXIT_HELP}`,
  views: `usage: eventide views rebuild <view> [--data-dir D]
       eventide views reconcile <view> [--repair] [--data-dir D]
       eventide inspect <aggregateType> <id> [--data-dir D] [--json]

Offline read-model tools (scripts/views.ts) on a stopped data dir.
Exit codes: 0 done (reconcile: no drift, or repaired); 1 reconcile found drift (without --repair);
2 usage; 3 the data dir is in use (DataDirLocked); 4 any other error (its code is printed).`,
};

class UsageError extends Error {}

const common = { 'data-dir': { type: 'string' }, json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false } } as const satisfies ParseArgsConfig['options'];

function parse<O extends ParseArgsConfig['options']>(args: string[], options: O) {
  try {
    return parseArgs({ args, options: { ...common, ...options }, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

const dataDirOf = (v: string | undefined) => resolve(v ?? (process.env['DATA_DIR'] || './data'));

async function main(argv: string[]): Promise<number> {
  const [command = '', ...rest] = argv;
  if (command === 'views' || command === 'inspect') {
    if (rest.includes('--help') || rest.includes('-h')) return help('views');
    // scripts/views.ts reads process.argv and exits by itself.
    process.argv = [process.argv[0]!, 'views.ts', ...(command === 'inspect' ? ['inspect', ...rest] : rest)];
    await import('./views.js');
    return new Promise<number>(() => undefined);
  }
  if (command === '' || command === '--help' || command === '-h' || command === 'help') return help('', command === '' ? EXIT.usage : EXIT.ok);
  if (!(command in HELP)) throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  json = rest.includes('--json');
  switch (command) {
    case 'backup': {
      const { values, positionals } = parse(rest, { 'no-compact': { type: 'boolean', default: false } });
      if (values.help) return help(command);
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
      out(r, () => [`backup ${r.dest}: ${r.ok ? 'verified' : 'DAMAGED (the copy does not verify: the source log is damaged)'}`, `  ${r.info.events} events in ${r.info.partitions} partitions, ${r.info.bytes} bytes${r.info.compacted ? ', compacted' : ''}, in ${r.durationMs} ms`, ...(r.ok ? [] : verifyText(r.verify))]);
      return r.ok ? EXIT.ok : EXIT.damaged;
    }
    case 'restore': {
      const { values, positionals } = parse(rest, { force: { type: 'boolean', default: false } });
      if (values.help) return help(command);
      const [backup, extra] = positionals;
      if (!backup || extra) throw new UsageError('restore takes one backup directory');
      if (!values['data-dir']) throw new UsageError('restore needs --data-dir (where to restore to)');
      const r = await restoreBackup(resolve(backup), dataDirOf(values['data-dir']), { force: values.force, verify: { partitionOf } });
      const events = r.verify.partitions.reduce((n, p) => n + p.events, 0);
      out(r, () => [`restored ${r.backup} into ${r.dataDir}: verified, ${events} events in ${r.verify.partitionCount} partitions${r.info ? ` (backup of ${r.info.created})` : ''}`]);
      return EXIT.ok;
    }
    case 'verify': {
      const { values, positionals } = parse(rest, { 'max-problems': { type: 'string' } });
      if (values.help) return help(command);
      if (positionals.length > 0) throw new UsageError('verify takes no positional arguments');
      const max = values['max-problems'] === undefined ? 100 : Number(values['max-problems']);
      if (!Number.isSafeInteger(max) || max < 1) throw new UsageError('--max-problems must be a positive integer');
      const dataDir = dataDirOf(values['data-dir']);
      if (!hasLog(dataDir)) throw noLogError(dataDir);
      const lock = lockDataDir(dataDir, 'eventide verify');
      try {
        const r = await verifyDataDir(dataDir, { partitionOf, maxProblems: max });
        out(r, () => verifyText(r));
        return r.ok ? EXIT.ok : EXIT.damaged;
      } finally {
        lock.release();
      }
    }
    case 'salvage': {
      const { values, positionals } = parse(rest, { into: { type: 'string' }, 'no-pages': { type: 'boolean', default: false }, 'no-views': { type: 'boolean', default: false } });
      if (values.help) return help(command);
      if (positionals.length > 0) throw new UsageError('salvage takes no positional arguments');
      if (!values['data-dir'] || !values.into) throw new UsageError('salvage needs --data-dir (the damaged data dir) and --into (a new dir)');
      const report = await salvageLog(dataDirOf(values['data-dir']), resolve(values.into), { pages: !values['no-pages'] });
      const views = values['no-views'] ? [] : await rebuildViews(report.into);
      out({ ...report, views }, () => salvageText(report, views));
      return report.ok ? EXIT.ok : EXIT.damaged;
    }
  }
  throw new UsageError(`unknown command ${JSON.stringify(command)}`);
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

let json = false;

function out(result: unknown, text: () => string[]): void {
  process.stdout.write(json ? JSON.stringify(result, null, 2) + '\n' : text().join('\n') + '\n');
}

function help(command: string, code: number = EXIT.ok): number {
  (code === EXIT.ok ? process.stdout : process.stderr).write(HELP[command] + '\n');
  return code;
}

function exitCodeOf(err: unknown): number {
  if (err instanceof UsageError) return EXIT.usage;
  if (RuntimeError.is(err, ErrorCodes.DataDirLocked)) return EXIT.locked;
  if (RuntimeError.is(err, ErrorCodes.InvalidOptions) && err.details['reason'] === 'no-log') return EXIT.usage;
  return EXIT.other;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    const code = err instanceof UsageError ? 'Usage' : RuntimeError.is(err) ? err.code : ErrorCodes.Internal;
    const message = (err as Error)?.message ?? String(err);
    process.stderr.write(`${code}: ${message}${err instanceof UsageError ? `\n(see eventide ${process.argv[2] && process.argv[2] in HELP ? `${process.argv[2]} ` : ''}--help)` : ''}\n`);
    if (json) process.stdout.write(JSON.stringify({ error: code, message, ...(RuntimeError.is(err) && Object.keys(err.details).length ? { details: err.details } : {}) }) + '\n');
    process.exit(exitCodeOf(err));
  },
);
