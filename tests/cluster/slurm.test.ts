// Slurm for real: a single-node Slurm on this machine (tests/cluster/slurm-cluster.ts) runs a tiny
// sweep (2 objectives × 2 seeds, 3 steps each) submitted with `rlbench slurm --submit`: the SFT
// job, the run array after it, the report job after the array. Every run must finish, the report
// must exist, and every number must equal the same sweep run in one process. The node has one
// CPU, so jobs run one at a time and the test loads the machine no more than any other test
// file (timing-sensitive tests run beside it). The daemons are
// stopped by PID whatever happens; the test is skipped, with the reason, only where Slurm cannot
// be installed or started as root.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TINY_EXPERIMENT, writeTinyExperiment } from '../util/tiny-experiment.ts';
import { runExperimentFile } from '../../harness/runs/runner.ts';
import { readJsonl } from '../../harness/runs/results.ts';
import { slurmUnavailable, startSlurm, waitFor, type SlurmCluster } from './slurm-cluster.ts';

const reason = slurmUnavailable();
if (reason) process.stdout.write(`# skipping the Slurm test: ${reason}\n`);

const BIN = join(process.cwd(), 'bin/rlbench.js');

/** Every number a run produced, minus the clocks. */
function numbers(dir: string, run: string): unknown {
  const clock = (k: string) => k === 'wallTime' || k === 'evalTime' || k.startsWith('time/');
  const strip = (rows: Record<string, unknown>[]) => rows.map((r) => Object.fromEntries(Object.entries(r).filter(([k]) => !clock(k))));
  return { metrics: strip(readJsonl(join(dir, run, 'metrics.jsonl'))), eval: strip(readJsonl(join(dir, run, 'eval.jsonl'))) };
}

test('a sweep submitted with `rlbench slurm --submit` runs on Slurm and gives the numbers of one process', { skip: reason ?? false, timeout: 240_000 }, async () => {
  const t0 = Date.now();
  const root = mkdtempSync(join(tmpdir(), 'rlbench-slurm-'));
  const work = join(root, 'work');
  // The fixture objective always updates (the tiny random policy never earns a reward), so the
  // numbers move and their equality means something.
  spawnSync('mkdir', ['-p', work]);
  const expPath = writeTinyExperiment(join(work, 'exp.json'), {
    name: 'slurm-sweep',
    seeds: [1, 2],
    rl: { ...TINY_EXPERIMENT.rl, epochs: 1 },
    budget: { steps: 3 },
    checkpointEvery: 1,
    output: join(work, 'results'),
  });
  const expDir = join(work, 'results', 'slurm-sweep');

  let cluster: SlurmCluster | null = null;
  let jobs: { sft: string; runs: string; report: string } | null = null;
  try {
    cluster = await startSlurm(join(root, 'slurm'));
    const tUp = Date.now();
    const sub = spawnSync(process.execPath, [BIN, 'slurm', expPath, '--submit', '--cpus-per-task', '1', '--max-parallel', '2'], { cwd: work, env: cluster.env, encoding: 'utf8' });
    assert.equal(sub.status, 0, sub.stderr + sub.stdout);
    jobs = JSON.parse(readFileSync(join(expDir, 'slurm', 'slurm.json'), 'utf8')).jobs;
    assert.match(sub.stdout, new RegExp(`submitted: SFT job ${jobs!.sft}, run array ${jobs!.runs}, report job ${jobs!.report}`));
    const script = readFileSync(join(expDir, 'slurm', 'runs.sbatch'), 'utf8');
    assert.match(script, /^#SBATCH --array=0-3%2$/m);
    assert.match(script, /^#SBATCH --cpus-per-task=1$/m);
    // The array waits for the SFT job, the report for the array.
    const deps = cluster.client('squeue', ['-h', '-j', `${jobs!.runs},${jobs!.report}`, '-o', '%i %E']);
    assert.match(deps, /afterok:\d+/);
    assert.match(deps, /afterany:\d+/);

    const ids = `${jobs!.sft},${jobs!.runs},${jobs!.report}`;
    await waitFor(() => cluster!.client('squeue', ['-h', '-j', ids]).trim() === '', 200_000, 'the sweep to leave the queue', () => cluster!.client('squeue', ['-a']));
    const tDone = Date.now();

    for (const run of ['grpo-s1', 'push-s1', 'grpo-s2', 'push-s2']) {
      const rj = JSON.parse(readFileSync(join(expDir, run, 'run.json'), 'utf8'));
      assert.equal(rj.status, 'finished', `${run}: ${JSON.stringify(rj.failure ?? rj.status)}`);
      assert.equal(rj.step, 3);
    }
    assert.ok(existsSync(join(work, 'reports', 'slurm-sweep', 'index.html')), 'the report job wrote the report');
    const summary = readFileSync(join(expDir, 'summary.csv'), 'utf8');
    for (const run of ['grpo-s1', 'push-s1', 'grpo-s2', 'push-s2', 'sft-s1', 'sft-s2']) assert.match(summary, new RegExp(`^${run},`, 'm'));
    // Each array task logged which run it trained.
    const log = readFileSync(join(expDir, 'slurm', `run-${jobs!.runs}_2.out`), 'utf8');
    assert.match(log, /run 2 of 4: grpo-s2/);
    // The SFT was trained once, by the SFT job; no array task trained it again.
    assert.match(readFileSync(join(expDir, 'slurm', `sft-${jobs!.sft}.out`), 'utf8'), /sft: training 3 steps/);
    for (let i = 0; i < 4; i++) assert.match(readFileSync(join(expDir, 'slurm', `run-${jobs!.runs}_${i}.out`), 'utf8'), /sft: reusing cached checkpoint/);

    const st = spawnSync(process.execPath, [BIN, 'status', expDir, '--json'], { cwd: work, env: cluster.env, encoding: 'utf8' });
    assert.equal(st.status, 0, st.stderr);
    const status = JSON.parse(st.stdout);
    assert.deepEqual(status.runs.map((r: { run: string; state: string }) => [r.run, r.state]), [['grpo-s1', 'finished'], ['push-s1', 'finished'], ['grpo-s2', 'finished'], ['push-s2', 'finished']]);
    assert.equal(status.slurm.jobs.runs, jobs!.runs);
    assert.equal(status.slurm.resubmit, null);

    // The same sweep in one process: identical numbers, SFT rows included.
    const one = join(root, 'one');
    await runExperimentFile(expPath, { outputRoot: one, log: () => {} });
    for (const run of ['sft-s1', 'sft-s2', 'grpo-s1', 'push-s1', 'grpo-s2', 'push-s2']) {
      assert.deepEqual(numbers(expDir, run), numbers(join(one, 'slurm-sweep'), run), run);
    }
    process.stdout.write(`# Slurm test: node up in ${((tUp - t0) / 1000).toFixed(1)} s, sweep through Slurm in ${((tDone - tUp) / 1000).toFixed(1)} s, total ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
  } finally {
    if (cluster && jobs) spawnSync('scancel', [jobs.sft, jobs.runs, jobs.report], { env: cluster.env, stdio: 'ignore' });
    await cluster?.stop();
    // RLBENCH_KEEP_TEST_DIR=1 keeps the folder (logs, slurmctld.log) for a look afterwards.
    if (process.env.RLBENCH_KEEP_TEST_DIR) process.stdout.write(`# kept ${root}\n`);
    else rmSync(root, { recursive: true, force: true });
  }
});
