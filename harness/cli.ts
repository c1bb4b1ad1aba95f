// The `rlbench` command line: one program, one subcommand group per part of the harness.
// Each group lives in harness/cli/<group>.ts and registers itself on the program here.
import { Command, CommanderError } from 'commander';
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { isReportable } from './util/errors.ts';
import { registerObjectiveCommands } from './cli/objective.ts';
import { registerEngineCommands } from './cli/engine.ts';
import { registerTaskCommands } from './cli/tasks.ts';
import { registerRunCommands } from './cli/run.ts';
import { registerReportCommands } from './cli/report.ts';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };

export function buildProgram(): Command {
  const program = new Command('rlbench')
    .description('Compare RL objectives for teaching language models to reason, under identical conditions.')
    .version(pkg.version)
    .showHelpAfterError()
    .exitOverride();
  registerObjectiveCommands(program);
  registerEngineCommands(program);
  registerTaskCommands(program);
  registerRunCommands(program);
  registerReportCommands(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return process.exitCode === undefined ? 0 : Number(process.exitCode);
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version end here with exit code 0; usage mistakes with a non-zero one.
      return e.exitCode === 0 ? 0 : 2;
    }
    if (isReportable(e)) {
      process.stderr.write(`rlbench: error: ${e.message}\n`);
      return e.exitCode;
    }
    throw e;
  }
}

// Run directly (`node --import tsx harness/cli.ts …`, as npm scripts do); bin/rlbench.js calls main().
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await main(process.argv.slice(2));
}
