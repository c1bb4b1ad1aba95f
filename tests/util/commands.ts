// Several `rlbench` command lines in one child process (tests/engine/cli-runner.ts runs them
// through main() in order): one module load instead of one per command, which is most of what a
// short CLI test costs. Use it for commands that do not need a process of their own (a signal, a
// kill, stdin, a different environment per command).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface CommandResult {
  status: number;
  stdout: string;
  stderr: string;
}

const REPO = fileURLToPath(new URL('../..', import.meta.url));

/** Runs `commands` in one child process, in `cwd` (default: the repository) with `env`. */
export function runCommands(commands: string[][], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): CommandResult[] {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'tests/engine/cli-runner.ts', JSON.stringify(commands), ...(opts.cwd ? [opts.cwd] : [])], { cwd: REPO, env: opts.env ?? process.env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tests/engine/cli-runner.ts exited with ${r.status ?? r.signal}: ${r.stderr}`);
  return JSON.parse(r.stdout) as CommandResult[];
}
