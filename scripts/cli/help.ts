/** The help texts of `eventide` and its commands: each says its arguments and its exit codes. */
import { EXIT_HELP } from './common.js';

export const HELP: Record<string, string> = {
  '': `usage: eventide <command> [options]

commands:
  serve                 run the server (HTTP API, WebSocket feed, console, video pipeline)
  backup <dest>         consistent, verified copy of a stopped data dir's log (a live server: POST /admin/backup)
  restore <backup>      restore a backup into an empty (or, with --force, an existing) data dir
  verify                read every record, checksum and index entry; report damage per partition
  salvage               rebuild a NEW data dir from the intact events of a damaged one
  views rebuild <view>  rebuild a read model from the log
  views reconcile <view>  compare a read model with the log (--repair fixes drift)
  inspect <type> <id>   a stream's history and its state after each event
  retention <type> [id] show or set retention (--max-age MS, --max-count N, --truncate-before V, --clear)
  delete <type> <id>    delete a stream (--hard: a tombstone, for good); undelete <type> <id> undoes a soft one
  scavenge [type] [id]  remove what retention hides, as far as snapshots and the views allow (a live server: POST /admin/scavenge)
  forget <subject>      crypto-shredding: delete a data subject's key (a live server: POST /admin/subjects/<subject>/forget)

Every command takes --help and --json. The data dir is --data-dir, else $DATA_DIR, else ./data;
every command but serve refuses a dir that holds no log (a mistyped path never becomes an empty log).
${EXIT_HELP}`,
  serve: `usage: eventide serve [--data-dir D] [--port P] [--host H] [--partitions N] [--workers N]
                      [--log-level L] [--domains M1,M2] [--json]

Runs the server on D (a dir with no log gets a new one; an info line says so). The flags set the variables
npm start reads (DATA_DIR, PORT, HOST, PARTITIONS, WORKERS, LOG_LEVEL, DOMAINS); every other one is
read from the environment as README and src/server/run-server.ts list them (tokens, limits, encodes,
cluster mode: EVENTIDE_NATS and the other EVENTIDE_* variables of docs/cluster.md).
Logs are pino JSON lines on stdout (--json changes nothing: they always are); a failed start is one
fatal line on stderr with its code. SIGTERM or SIGINT stops it cleanly (exit 0); a second signal, or a
stop longer than SHUTDOWN_TIMEOUT_MS, exits 1.
Exit codes: 0 stopped cleanly; 1 could not start (the code is on the fatal line: DataDirLocked,
CorruptLog, InvalidOptions, ...) or did not stop cleanly; 2 usage.`,
  backup: `usage: eventide backup <dest> [--data-dir D] [--no-compact] [--json]

Copies the log of the stopped data dir D into the new directory <dest> (it must not exist) with LMDB's
consistent copy, compacted unless --no-compact; then opens the copy read-only and verifies it before
reporting success. A running server holds D (exit 3): back it up with POST /admin/backup instead. <dest> holds log.mdb and backup.json (format version,
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
  views: `usage: eventide views rebuild <view> [--data-dir D] [--json]
       eventide views reconcile <view> [--repair] [--data-dir D] [--json]

Offline read-model tools on a stopped data dir (a live server: POST /views/<view>/rebuild|reconcile).
rebuild folds the whole log into a fresh generation of the view and swaps it in; reconcile compares
every row with a fold of the log and lists the mismatches (--repair rewrites them) and the partitions
it could not read. Progress goes to stderr: a bar on a terminal, plain lines elsewhere.
${EXIT_HELP}`,
  retention: `usage: eventide retention <aggregateType> [<id>] [--max-age MS] [--max-count N] [--truncate-before V]
                          [--clear] [--data-dir D] [--json]

Shows the retention settings of every stream of a type, or of one stream (with what applies to it and
the first version reads may show). With a setting, replaces the stored ones; --clear removes them.
Events before a stream's cut are gone for reads (410 Gone); the current state is not affected
(docs/data-lifecycle.md). Recorded in the audit stream as done by "cli". On a stopped data dir.
${EXIT_HELP}`,
  scavenge: `usage: eventide scavenge [<aggregateType> [<id>]] [--domains M1,M2] [--budget N] [--data-dir D] [--json]

Runs one scavenge pass: removes for good the events retention hides, behind the newest snapshot before
each stream's cut, never past what the built-in views consumed, never of a type a view folds whole (it
says which it left, and why). --domains (or DOMAINS) names the extra domain modules the server loads;
--budget the removals per LMDB transaction (default 512). Recorded in the audit stream as done by "cli".
On a stopped data dir; a running server does the same every SCAVENGE_EVERY_MS (docs/data-lifecycle.md).
${EXIT_HELP}`,
  delete: `usage: eventide delete <aggregateType> <id> [--hard] [--data-dir D] [--json]

Deletes a stream: soft (reads answer not found; \`eventide undelete\` or a new command brings it back) or
--hard (a tombstone: every later command and read is refused, for good). Appends a $ event to the
stream and records it in the audit stream as done by "cli". On a stopped data dir.
${EXIT_HELP}`,
  undelete: `usage: eventide undelete <aggregateType> <id> [--data-dir D] [--json]

Undoes a soft deletion: the stream reads again as it was. Refused once a command re-created it.
${EXIT_HELP}`,
  forget: `usage: eventide forget <subject> [--data-dir D] [--json]

Crypto-shredding on a stopped data dir: deletes data subject <subject>'s key (for the account, the
account's id), so the personal fields sealed with it (the owner) read as null from now on, everywhere;
records SubjectForgotten in the audit stream (by: cli). Idempotent. View rows read as null at once and
are rewritten so by the next rebuild. Backups taken before still hold the key.
${EXIT_HELP}`,
  inspect: `usage: eventide inspect <aggregateType> <id> [--data-dir D] [--json]

Prints every event of one stream of a stopped data dir and the state after it, as the decider folds
it (events upcast to their current schema version).
${EXIT_HELP}`,
};
