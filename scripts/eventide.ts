#!/usr/bin/env node
/**
 * `eventide`: the operator's command line (`npm run eventide -- <command> ...`, or the `eventide` bin of
 * the built package): serve, backup, restore, verify, salvage, views rebuild|reconcile, inspect. Each
 * command's help (`eventide <command> --help`) says its arguments and exit codes; the commands live in
 * scripts/cli/.
 */
import { runCli } from './cli/main.js';

await runCli(process.argv.slice(2));
