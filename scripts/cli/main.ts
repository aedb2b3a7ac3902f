/** The `eventide` command line: dispatches to a command, prints its failure, exits with its code. */
import { EXIT, UsageError, reportFailure } from './common.js';
import { HELP } from './help.js';
import { deleteCommand, retentionCommand, undeleteCommand } from './lifecycle.js';
import { backupCommand, restoreCommand, salvageCommand, verifyCommand } from './maintenance.js';
import { serveCommand } from './serve.js';
import { forgetCommand } from './forget.js';
import { scavengeCommand } from './scavenge.js';
import { inspectCommand, viewsCommand } from './views.js';

type Command = (args: string[], help: (topic: string) => number) => Promise<number>;

const COMMANDS: Record<string, Command> = {
  serve: serveCommand,
  backup: backupCommand,
  restore: restoreCommand,
  verify: verifyCommand,
  salvage: salvageCommand,
  views: viewsCommand,
  inspect: inspectCommand,
  retention: retentionCommand,
  delete: deleteCommand,
  undelete: undeleteCommand,
  forget: forgetCommand,
  scavenge: scavengeCommand,
};

/** Help on stdout with exit 0 when asked for; on stderr with exit 2 when the command line was wrong. */
function help(topic: string, code: number = EXIT.ok): number {
  (code === EXIT.ok ? process.stdout : process.stderr).write(HELP[topic] + '\n');
  return code;
}

/** Runs `argv` (without node and the script) and exits the process with the command's exit code. */
export async function runCli(argv: string[]): Promise<never> {
  const [command = '', ...rest] = argv;
  const json = rest.includes('--json');
  let code: number;
  try {
    if (command === '' || command === '--help' || command === '-h' || command === 'help') code = help('', command === '' ? EXIT.usage : EXIT.ok);
    else {
      const run = COMMANDS[command];
      if (!run) throw new UsageError(`unknown command ${JSON.stringify(command)}`);
      code = await run(rest, help);
    }
  } catch (err) {
    code = reportFailure(err, json, `eventide ${command in COMMANDS ? `${command} ` : ''}`.trimEnd());
  }
  process.exit(code);
}
