/**
 * `npm start` (and the built package's `node dist/src/server/main.js`): the server configured by the
 * environment; the variables are listed in run-server.ts and README. A failed start is one `fatal` pino
 * line on stderr with the error's code (DataDirLocked, CorruptLog, InvalidOptions...) and exit code 1.
 */
import { logStartFailure } from './logger.js';
import { runServer } from './run-server.js';

runServer(process.env).catch((err: unknown) => {
  logStartFailure(err, process.env.LOG_LEVEL);
  process.exit(1);
});
