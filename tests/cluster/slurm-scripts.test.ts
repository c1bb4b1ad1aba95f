// The sbatch scripts without a cluster: their #SBATCH lines, valid bash, the job chain that
// --submit builds (through a stand-in sbatch that records its arguments), and the resubmission
// commands `status` prints for a partly failed sweep.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { slurmAdvice, submitSlurm, writeSlurmScripts } from '../../harness/cluster/slurm.ts';
import { validateExperiment } from '../../harness/runs/experiment.ts';
import { runList } from '../../harness/runs/sweep.ts';
import type { RunStatus } from '../../harness/runs/sweep-status.ts';

const root = mkdtempSync(join(tmpdir(), 'rlbench-slurm-scripts-'));
const exp = validateExperiment({ name: 'sweep', objectives: [{ id: 'grpo' }, { id: 'dapo' }], seeds: [1, 2, 3], execution: { threads: 2 }, output: join(root, 'results') }, 'test');
const runs = runList(exp, [{ name: 'grpo' }, { name: 'dapo' }]);

test('the scripts: SFT job, throttled run array, report job, each valid bash with the requested resources', () => {
  const plan = writeSlurmScripts(join(root, 'exp.json'), exp, runs, { partition: 'gpu', gpusPerTask: 1, time: '2:00:00', maxParallel: 3, sbatch: ['--mem=32G'], setup: ['module load cuda/12'] });
  assert.equal(plan.array, '0-5%3');
  assert.equal(plan.cpusPerTask, 2, 'CPUs default to the fixed execution.threads');
  assert.equal(plan.logDir, join(root, 'results', 'sweep', 'slurm'));
  const runsScript = readFileSync(plan.scripts.runs, 'utf8');
  for (const line of ['--array=0-5%3', '--cpus-per-task=2', '--gpus-per-task=1', '--partition=gpu', '--time=2:00:00', '--mem=32G', '--kill-on-invalid-dep=yes', `--output=${plan.logDir}/run-%A_%a.out`]) {
    assert.match(runsScript, new RegExp(`^#SBATCH ${line.replace(/[.*+?^${}()|[\]\\%]/g, '\\$&')}$`, 'm'), line);
  }
  assert.match(runsScript, /^module load cuda\/12$/m);
  assert.match(runsScript, /run \S*exp\.json --index "\$SLURM_ARRAY_TASK_ID" --wait \$\{RLBENCH_FRESH:\+--fresh\}$/m);
  assert.match(readFileSync(plan.scripts.sft, 'utf8'), /run \S*exp\.json --sft-only$/m);
  const report = readFileSync(plan.scripts.report, 'utf8');
  assert.match(report, /run \S*exp\.json --report-only$/m);
  assert.match(report, /^#SBATCH --cpus-per-task=1$/m);
  assert.doesNotMatch(report, /gpus-per-task/);
  for (const f of Object.values(plan.scripts)) assert.equal(spawnSync('bash', ['-n', f]).status, 0, f);
  assert.ok(plan.notes.some((n) => /provider "cpu"/.test(n)), 'GPUs with the CPU provider are pointed out');
  assert.throws(() => writeSlurmScripts('e.json', exp, runs, { time: '2h' }), /--time "2h": not a Slurm time/);
  assert.throws(() => writeSlurmScripts('e.json', exp, runs, { sbatch: ['mem=32G'] }), /--sbatch "mem=32G": give one long sbatch option/);
  assert.throws(() => writeSlurmScripts('e.json', exp, runs, { maxParallel: 0 }), /--max-parallel: must be a positive integer/);
});

test('--submit chains the jobs: the array afterok on the SFT job, the report afterany on the array', () => {
  const plan = writeSlurmScripts(join(root, 'exp.json'), exp, runs, {});
  const fake = join(root, 'fake-sbatch');
  const calls = join(root, 'calls.txt');
  // Prints the next job id the way `sbatch --parsable` does on a multi-cluster setup ("id;cluster").
  writeFileSync(fake, `#!/bin/bash\necho "$*" >> ${calls}\nn=$(wc -l < ${calls})\necho "$((100 + n));cluster1"\n`);
  chmodSync(fake, 0o755);
  const jobs = submitSlurm(plan, fake);
  assert.deepEqual([jobs.sft, jobs.runs, jobs.report], ['101', '102', '103']);
  assert.deepEqual(readFileSync(calls, 'utf8').trim().split('\n'), [`--parsable ${plan.scripts.sft}`, `--parsable --dependency=afterok:101 ${plan.scripts.runs}`, `--parsable --dependency=afterany:102 ${plan.scripts.report}`]);
  assert.equal(JSON.parse(readFileSync(join(plan.logDir, 'slurm.json'), 'utf8')).jobs.runs, '102');
  writeFileSync(fake, '#!/bin/bash\necho "sbatch: error: invalid partition specified: nope" >&2\nexit 1\n');
  assert.throws(() => submitSlurm(plan, fake), /sbatch .*sft\.sbatch failed: sbatch: error: invalid partition specified: nope/);
  assert.throws(() => submitSlurm(plan, join(root, 'no-such-sbatch')), /not found; is this a Slurm login node\?/);
});

test('status advice: interrupted runs are resubmitted by index with their log tail; failed and damaged ones are started over', () => {
  writeSlurmScripts(join(root, 'exp.json'), exp, runs, {});
  const expDir = join(root, 'results', 'sweep');
  const record = join(expDir, 'slurm', 'slurm.json');
  writeFileSync(record, JSON.stringify({ ...JSON.parse(readFileSync(record, 'utf8')), jobs: { sft: '76', runs: '77', report: '78', submittedAt: '2026-11-27T10:00:00Z' } }));
  writeFileSync(join(expDir, 'slurm', 'run-77_3.out'), 'grpo-s2        step 40/100\nslurmstepd: error: *** JOB 80 ON node1 CANCELLED AT 2026-11-27T10:00:00 DUE TO TIME LIMIT ***\n\n');
  const state = (index: number, s: RunStatus['state']): RunStatus => ({ ...runs[index]!, state: s, step: 0, totalSteps: 100, fraction: 0, eta: null, secondsPerStep: null, holder: null, why: null, checkpointStep: null });
  const st = [state(0, 'finished'), state(1, 'running'), state(2, 'failed'), state(3, 'interrupted'), state(4, 'interrupted'), state(5, 'damaged')];
  const a = slurmAdvice(expDir, st)!;
  assert.deepEqual(a.resubmit!.indexes, [3, 4]);
  assert.equal(a.resubmit!.command, `jid=$(sbatch --parsable --array=3,4 ${join(expDir, 'slurm', 'runs.sbatch')}) && sbatch --dependency=afterany:\${jid%%;*} ${join(expDir, 'slurm', 'report.sbatch')}`);
  assert.deepEqual(a.restart!.indexes, [2, 5]);
  assert.match(a.restart!.command, /--array=2,5 --export=ALL,RLBENCH_FRESH=1 /);
  assert.equal(a.logs.get(3), 'run-77_3.out: slurmstepd: error: *** JOB 80 ON node1 CANCELLED AT 2026-11-27T10:00:00 DUE TO TIME LIMIT ***');
  assert.equal(a.logs.has(4), false);
  assert.equal(slurmAdvice(join(root, 'nowhere'), st), null, 'no advice without slurm scripts');

  // With squeue answering (a stand-in here): a run whose task is queued again is not resubmitted,
  // and a pending run is resubmitted only when no task of the sweep's array will start it.
  const bin = join(root, 'bin');
  mkdirSync(bin, { recursive: true });
  writeFileSync(join(bin, 'squeue'), `#!/bin/bash\necho "$*" > ${join(root, 'squeue-args.txt')}\nprintf '3\\nN/A\\n'\n`);
  chmodSync(join(bin, 'squeue'), 0o755);
  const path = process.env.PATH;
  process.env.PATH = `${bin}:${path}`;
  try {
    const q = slurmAdvice(expDir, [...st.slice(0, 5), state(5, 'pending')])!;
    assert.deepEqual(q.queued, [3]);
    assert.deepEqual(q.resubmit!.indexes, [4, 5]);
    assert.match(readFileSync(join(root, 'squeue-args.txt'), 'utf8'), /-r -n rlbench-sweep /);
  } finally {
    process.env.PATH = path;
  }
});
