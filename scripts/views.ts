/**
 * `npm run views -- rebuild <view> | reconcile <view> [--repair] | inspect <type> <id> [--data-dir D]`:
 * the same as `eventide views ...` and `eventide inspect ...` (see `eventide views --help`).
 */
import { runCli } from './cli/main.js';

const args = process.argv.slice(2);
await runCli(args[0] === 'inspect' ? args : ['views', ...args]);
