// The `rlbench` command line: one program, one subcommand group per part of the harness.
// Each group lives in harness/cli/<group>.ts and registers itself on the program here.
import { Command, CommanderError } from 'commander';
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { isReportable } from './util/errors.ts';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };

type Register = (program: Command) => void;

// Command groups load lazily: `rlbench grade` need not load ONNX Runtime or the chart renderer.
// Each entry names the top-level commands its module registers.
const GROUPS: { commands: string[]; load: () => Promise<Register> }[] = [
  { commands: ['objective'], load: async () => (await import('./cli/objective.ts')).registerObjectiveCommands },
  { commands: ['engine'], load: async () => (await import('./cli/engine.ts')).registerEngineCommands },
  { commands: ['model'], load: async () => (await import('./cli/model.ts')).registerModelCommands },
  { commands: ['eval'], load: async () => (await import('./cli/eval.ts')).registerEvalCommands },
  { commands: ['grade', 'data'], load: async () => (await import('./cli/tasks.ts')).registerTaskCommands },
  { commands: ['run', 'bench'], load: async () => (await import('./cli/run.ts')).registerRunCommands },
  { commands: ['report'], load: async () => (await import('./cli/report.ts')).registerReportCommands },
  { commands: ['probe'], load: async () => (await import('./cli/probe.ts')).registerProbeCommands },
  { commands: ['slurm', 'k8s', 'status'], load: async () => (await import('./cli/cluster.ts')).registerClusterCommands },
];

/** The program with the groups that `argv` needs (all of them for help or an unknown command). */
export async function buildProgram(argv: string[] = []): Promise<Command> {
  const program = new Command('rlbench')
    .description('Compare RL objectives for teaching language models to reason, under identical conditions.')
    .version(pkg.version)
    .showHelpAfterError()
    .exitOverride();
  const first = argv.find((a) => !a.startsWith('-'));
  const wanted = GROUPS.filter((g) => first !== undefined && g.commands.includes(first));
  for (const g of wanted.length ? wanted : GROUPS) (await g.load())(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = await buildProgram(argv);
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
