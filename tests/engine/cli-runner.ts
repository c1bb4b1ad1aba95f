// Runs several `rlbench` command lines in one process (one ONNX Runtime load instead of one per
// command) and prints their exit codes and output as JSON: `node --import tsx
// tests/engine/cli-runner.ts '[["model","logprobs",…],…]' [cwd]`, the commands run in cwd when
// given. Used by the CLI tests (tests/util/commands.ts runCommands()); capturing stdout here is
// safe because no test runner shares this process.
import { main } from '../../harness/cli.ts';

const commands = JSON.parse(process.argv[2] ?? '[]') as string[][];
if (process.argv[3]) process.chdir(process.argv[3]);
const results: { status: number; stdout: string; stderr: string }[] = [];
const write = { out: process.stdout.write.bind(process.stdout), err: process.stderr.write.bind(process.stderr) };
for (const argv of commands) {
  let stdout = '', stderr = '';
  process.stdout.write = ((s: string) => ((stdout += s), true)) as typeof process.stdout.write;
  process.stderr.write = ((s: string) => ((stderr += s), true)) as typeof process.stderr.write;
  let status: number;
  try {
    status = await main(argv);
  } finally {
    process.stdout.write = write.out;
    process.stderr.write = write.err;
    process.exitCode = undefined;
  }
  results.push({ status, stdout, stderr });
}
write.out(JSON.stringify(results) + '\n');
