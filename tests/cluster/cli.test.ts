// The sweep commands end to end, as a user or a scheduler calls them: `run --list`, a bad
// --index, the array index taken from Slurm's environment, a run stopped with SIGTERM (as scancel
// or a Slurm time limit stops it: its lock is released) and resubmitted by index (it resumes to
// the numbers of an uninterrupted run), `status`, `slurm` and `k8s` errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TINY_EXPERIMENT, writeTinyExperiment } from '../util/tiny-experiment.ts';
import { runExperimentFile } from '../../harness/runs/runner.ts';
import { readJsonl } from '../../harness/runs/results.ts';
import { runCommands, type CommandResult } from '../util/commands.ts';

const root = mkdtempSync(join(tmpdir(), 'rlbench-sweep-cli-'));
const plain = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SLURM_') && k !== 'JOB_COMPLETION_INDEX'));
const cli = (args: string[], env: NodeJS.ProcessEnv = {}) =>
  spawnSync(process.execPath, [join(process.cwd(), 'bin/rlbench.js'), ...args], { cwd: root, env: { ...plain, ...env }, encoding: 'utf8' });

const exp = join(root, 'exp.json');
writeTinyExperiment(exp, {
  name: 'cli-sweep',
  seeds: [1, 2],
  sft: { ...TINY_EXPERIMENT.sft, steps: 2 },
  rl: { ...TINY_EXPERIMENT.rl, epochs: 1, minibatches: 1 },
  checkpointEvery: 1,
});

test('run --list prints the sweep order and writes nothing; a bad --index, or flags that do not go together, are refused', () => {
  const [list, bad, mixed, sftIndex] = runCommands(
    [
      ['run', 'exp.json', '--list'],
      ['run', 'exp.json', '--index', '4'],
      ['run', 'exp.json', '--report-only', '--index', '1'],
      ['run', 'exp.json', '--sft-only', '--index', '1'],
    ],
    { cwd: root, env: plain },
  );
  assert.equal(list!.status, 0, list!.stderr);
  assert.match(list!.stdout, /cli-sweep: 4 runs, in sweep order \(seeds-major/);
  assert.match(list!.stdout, /^\s+0\s+grpo-s1\s+pending$/m);
  assert.match(list!.stdout, /^\s+3\s+push-s2\s+pending$/m);
  assert.equal(bad!.status, 2);
  assert.match(bad!.stderr, /rlbench: error: --index 4: exp\.json has 4 runs \(indexes 0-3/);
  assert.equal(mixed!.status, 2);
  assert.match(mixed!.stderr, /rlbench: error: --report-only cannot be combined with --index/);
  assert.equal(sftIndex!.status, 2);
  assert.match(sftIndex!.stderr, /rlbench: error: --sft-only cannot be combined with --index/);
  assert.ok(!existsSync(join(root, 'results')), 'nothing written');
});

test('inside a Slurm array task, run trains that run only; a run stopped by SIGTERM releases its lock, shows as interrupted and resumes when resubmitted by index', async () => {
  const r = cli(['run', 'exp.json'], { SLURM_ARRAY_JOB_ID: '42', SLURM_ARRAY_TASK_ID: '3' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /run 3 of 4 \(push-s2\), from SLURM_ARRAY_TASK_ID=3; --all trains every run instead/);
  assert.ok(existsSync(join(root, 'results', 'cli-sweep', 'push-s2', 'run.json')));
  assert.ok(!existsSync(join(root, 'results', 'cli-sweep', 'grpo-s1')));

  // Run 1 is stopped by SIGTERM (scancel, a time limit) once it has completed step 2.
  const victim = spawn(process.execPath, [join(process.cwd(), 'bin/rlbench.js'), 'run', 'exp.json', '--index', '1'], { cwd: root, env: plain, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  const exited = new Promise<number | null>((res) => victim.once('exit', (code) => res(code)));
  await new Promise<void>((res, rej) => {
    victim.stderr!.on('data', (d) => {
      err += String(d);
      if (/push-s1\s+step 2\/4/.test(err)) {
        victim.kill('SIGTERM');
        res();
      }
    });
    victim.on('exit', () => rej(new Error(`exited before step 2: ${err}`)));
  });
  assert.equal(await exited, 143, err);
  assert.match(err, /rlbench: interrupted by SIGTERM: push-s1 stopped after step [234]; it resumes from its checkpoint at step [1-4]; to resume, run: rlbench run exp\.json --index 1\n$/);
  assert.ok(!existsSync(join(root, 'results', 'cli-sweep', '.locks', 'push-s1.lock')), 'the run lock is released');
  // status, the resubmission by index, then the report job, in one process.
  const [st, again, report] = runCommands([['status', 'results/cli-sweep'], ['run', 'exp.json', '--index', '1'], ['run', 'exp.json', '--report-only']], { cwd: root, env: plain }) as [CommandResult, CommandResult, CommandResult];
  assert.equal(st.status, 0, st.stderr);
  assert.match(st.stdout, /cli-sweep: 4 runs: 1 finished, 0 running, 1 interrupted, 0 failed, 2 pending/);
  assert.match(st.stdout, /SFT warm start: ready/);
  assert.match(st.stdout, /^\s+3\s+push-s2\s+finished\s+4\/4\s+-/m);
  assert.match(st.stdout, /^\s+1\s+push-s1\s+interrupted\s+[234]\/4\s+-\s+resumes from step [1-4]; no process holds it$/m);
  assert.match(st.stdout, /Interrupted runs resume from their checkpoints: run `rlbench run <experiment.json> --index I` for I in 1/);

  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stderr, /push-s1: resuming from step [1-4]/);
  // --report-only: summary.csv from every run folder there is, and the report, under the
  // experiment lock, released after.
  assert.equal(report.status, 0, report.stderr);
  const summary = readFileSync(join(root, 'results', 'cli-sweep', 'summary.csv'), 'utf8');
  assert.deepEqual([...new Set(summary.trim().split('\n').slice(1).map((l) => l.split(',')[0]))], ['push-s1', 'push-s2', 'sft-s1', 'sft-s2']);
  assert.ok(existsSync(join(root, 'reports', 'cli-sweep', 'index.html')), report.stdout);
  assert.deepEqual(readdirSync(join(root, 'results', 'cli-sweep', '.locks')), []);
  // The resumed run has the numbers of one trained without interruption.
  const ref = join(root, 'reference');
  await runExperimentFile(join(root, 'exp.json'), { outputRoot: ref, only: 'push-s1', log: () => {} });
  const strip = (p: string) => readJsonl<Record<string, unknown>>(p).map((x) => Object.fromEntries(Object.entries(x).filter(([k]) => k !== 'wallTime' && k !== 'evalTime' && !k.startsWith('time/'))));
  for (const f of ['metrics.jsonl', 'eval.jsonl']) assert.deepEqual(strip(join(root, 'results', 'cli-sweep', 'push-s1', f)), strip(join(ref, 'cli-sweep', 'push-s1', f)), f);
});

test('k8s needs an image and a claim; slurm refuses a bad time limit', () => {
  const [k, s] = runCommands([['k8s', 'exp.json', '--pvc', 'results'], ['slurm', 'exp.json', '--time', 'forever']], { cwd: root, env: plain });
  assert.equal(k!.status, 2);
  assert.match(k!.stderr, /required option '--image <image>' not specified/);
  assert.equal(s!.status, 2);
  assert.match(s!.stderr, /--time "forever": not a Slurm time/);
});
