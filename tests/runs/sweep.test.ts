// Sweeps: the stable run order and index selection (flag, Slurm, Kubernetes), the SFT-only first
// job, a run held by a lost process (skipped, or taken over with --wait once its lock is stale),
// and `status` on hand-built results and real lock files, with known ETAs. The locks themselves
// are tested in tests/util/lock.test.ts, two processes on one folder in concurrency.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TINY_EXPERIMENT, writeTinyExperiment } from '../util/tiny-experiment.ts';
import { effectiveThreads, indexFromEnv, pickRun, runList } from '../../harness/runs/sweep.ts';
import { isLock, tryLock } from '../../harness/util/lock.ts';
import { BOOT_ID, HOST, PID_NS } from '../../harness/util/host.ts';
import { sweepStatus } from '../../harness/runs/sweep-status.ts';
import { runExperimentFile } from '../../harness/runs/runner.ts';
import { runLockPath } from '../../harness/runs/results.ts';
import { UsageError } from '../../harness/util/errors.ts';
import { validateExperiment, type ResolvedObjective } from '../../harness/runs/experiment.ts';
import { selectRun } from '../../harness/cli/sweep.ts';

const root = mkdtempSync(join(tmpdir(), 'rlbench-sweep-'));
const quiet = () => {};
const plugin = join(process.cwd(), 'tests/runs/fixtures/push-objective.ts');

test('the run order is seeds-major, in file order, and indexes are checked', () => {
  const runs = runList({ seeds: [3, 1] }, [{ name: 'grpo' }, { name: 'dapo' }, { name: 'push' }]);
  assert.deepEqual(
    runs.map((r) => [r.index, r.run]),
    [[0, 'grpo-s3'], [1, 'dapo-s3'], [2, 'push-s3'], [3, 'grpo-s1'], [4, 'dapo-s1'], [5, 'push-s1']],
  );
  assert.equal(pickRun(runs, '4', '--index', 'exp.json').run, 'dapo-s1');
  assert.throws(() => pickRun(runs, '6', 'SLURM_ARRAY_TASK_ID', 'exp.json'), (e: Error) => e instanceof UsageError && /SLURM_ARRAY_TASK_ID 6: exp\.json has 6 runs \(indexes 0-5/.test(e.message));
  assert.throws(() => pickRun(runs, '-1', '--index', 'exp.json'), /--index "-1": not a run index \(an integer from 0 to 5\)/);
  assert.throws(() => pickRun(runs, '1.5', '--index', 'exp.json'), /not a run index/);
});

test('the index comes from SLURM_ARRAY_TASK_ID only inside an array job, or from JOB_COMPLETION_INDEX', () => {
  // An interactive allocation (salloc) has no array variables: every run is trained.
  assert.equal(indexFromEnv({ SLURM_JOB_ID: '7', SLURM_CPUS_PER_TASK: '4' }), null);
  // A task id without its array job id is not an array task (e.g. a stray export).
  assert.equal(indexFromEnv({ SLURM_ARRAY_TASK_ID: '3' }), null);
  assert.deepEqual(indexFromEnv({ SLURM_ARRAY_TASK_ID: '3', SLURM_ARRAY_JOB_ID: '100' }), { raw: '3', from: 'SLURM_ARRAY_TASK_ID' });
  assert.deepEqual(indexFromEnv({ JOB_COMPLETION_INDEX: '5' }), { raw: '5', from: 'JOB_COMPLETION_INDEX' });
  assert.equal(indexFromEnv({}), null);
});

test('which run a process trains: --index, --only, the scheduler\'s index unless --all', () => {
  const exp = validateExperiment({ name: 'pick', objectives: [{ id: 'grpo' }, { id: 'dapo' }], seeds: [1, 2], output: join(root, 'pick') }, 'test');
  const objs = [{ name: 'grpo' }, { name: 'dapo' }] as ResolvedObjective[];
  const saved = { ...process.env };
  try {
    process.env.SLURM_ARRAY_JOB_ID = '9';
    process.env.SLURM_ARRAY_TASK_ID = '2';
    const logs: string[] = [];
    assert.equal(selectRun('e.json', exp, objs, {}, (m) => logs.push(m)), 'grpo-s2');
    assert.match(logs[0]!, /run 2 of 4 \(grpo-s2\), from SLURM_ARRAY_TASK_ID=2/);
    assert.equal(selectRun('e.json', exp, objs, { all: true }, quiet), undefined);
    assert.equal(selectRun('e.json', exp, objs, { only: 'dapo-s1' }, quiet), 'dapo-s1');
    assert.equal(selectRun('e.json', exp, objs, { index: '3' }, quiet), 'dapo-s2');
    assert.throws(() => selectRun('e.json', exp, objs, { index: '1', only: 'grpo-s1' }, quiet), /give --index or --only, not both/);
    assert.throws(() => selectRun('e.json', exp, objs, { index: '1', all: true }, quiet), /give --index or --all, not both/);
    delete process.env.SLURM_ARRAY_JOB_ID;
    delete process.env.SLURM_ARRAY_TASK_ID;
    assert.equal(selectRun('e.json', exp, objs, {}, quiet), undefined, 'outside an array task: every run');
    assert.ok(!existsSync(join(root, 'pick')), 'choosing writes nothing');
  } finally {
    for (const k of ['SLURM_ARRAY_JOB_ID', 'SLURM_ARRAY_TASK_ID']) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
  }
});

test('threads: a fixed execution.threads wins; 0 means the CPUs the scheduler gave', () => {
  assert.equal(effectiveThreads(2, { SLURM_CPUS_PER_TASK: '8', RLBENCH_THREADS: '4' }), 2);
  assert.equal(effectiveThreads(0, { SLURM_CPUS_PER_TASK: '8', RLBENCH_THREADS: '4' }), 4);
  assert.equal(effectiveThreads(0, { SLURM_CPUS_PER_TASK: '8' }), 8);
  assert.equal(effectiveThreads(0, { SLURM_CPUS_PER_TASK: '' }), undefined);
  assert.equal(effectiveThreads(0, {}), undefined);
});

function tinyExperiment(name: string, over: Record<string, unknown> = {}): string {
  return writeTinyExperiment(join(root, `${name}.json`), {
    name,
    objectives: [{ id: 'grpo' }, { module: plugin, name: 'push' }],
    rl: { ...TINY_EXPERIMENT.rl, epochs: 1 },
    budget: { steps: 3 },
    checkpointEvery: 1,
    ...over,
  });
}

test('--sft-only writes the SFT rows and no run; --index on a run held elsewhere skips it, naming the holder; --wait takes it over once that lock is stale', async () => {
  const path = tinyExperiment('sftonly');
  const out = join(root, 'sftonly-out');
  const dir = join(out, 'sftonly');
  const r = await runExperimentFile(path, { outputRoot: out, log: quiet, sftOnly: true });
  assert.deepEqual(r.runs, []);
  assert.ok(existsSync(join(dir, 'sft-s1', 'eval.jsonl')));
  assert.ok(!existsSync(join(dir, 'grpo-s1')));
  // The runner wrote the run list for `status`, in sweep order.
  assert.deepEqual(JSON.parse(readFileSync(join(dir, 'sweep.json'), 'utf8')).runs.map((x: { index: number; run: string }) => [x.index, x.run]), [[0, 'grpo-s1'], [1, 'push-s1']]);
  let st = sweepStatus(dir);
  assert.equal(st.sft.state, 'ready');
  assert.deepEqual(st.runs.map((x) => x.state), ['pending', 'pending']);
  await assert.rejects(runExperimentFile(path, { outputRoot: out, log: quiet, sftOnly: true, only: 'grpo-s1' }), /--sft-only trains no run; give it without --only or --index/);

  // A task requeued after its node was lost finds the lost process's lock, heartbeat still fresh.
  const lockFile = runLockPath(dir, 'grpo-s1');
  writeFileSync(lockFile, JSON.stringify({ format: 'rlbench-lock/1', purpose: 'run grpo-s1 is being trained', host: 'lost-node', bootId: 'b', pidNs: 'p', pid: 4242, pidStart: null, startedAt: '2026-11-27T10:00:00.000Z', token: 't', ino: null, command: 'rlbench run e.json --index 0' }));
  st = sweepStatus(dir);
  assert.deepEqual([st.runs[0]!.state, st.runs[0]!.holder!.host, st.runs[0]!.holder!.pid], ['running', 'lost-node', 4242]);
  const skipped = await runExperimentFile(path, { outputRoot: out, log: quiet, only: 'grpo-s1' });
  assert.deepEqual(skipped.runs.map((x) => x.status), ['busy']);
  assert.match(skipped.runs[0]!.failure!, /^run grpo-s1 is being trained by pid 4242 on host lost-node since 2026-11-27T10:00:00.000Z/);
  // With --wait (what the generated Slurm and Kubernetes jobs pass) it waits for the lock to go
  // stale, takes it over and trains the run.
  const logs: string[] = [];
  const t0 = Date.now();
  const taken = await runExperimentFile(path, { outputRoot: out, log: (m) => logs.push(m), only: 'grpo-s1', wait: true, lock: { staleMs: 1500, pollMs: 100 } });
  assert.deepEqual(taken.runs.map((x) => x.status), ['finished']);
  assert.ok(Date.now() - t0 >= 1000, 'it waited for the heartbeat to age');
  assert.ok(logs.some((l) => /^grpo-s1: waiting: run grpo-s1 is being trained by pid 4242 on host lost-node/.test(l)), logs.join('\n'));
  assert.ok(logs.some((l) => /^grpo-s1: taking over the lock of pid 4242 on host lost-node: its heartbeat is \d+ s old/.test(l)), logs.join('\n'));
  assert.ok(!existsSync(lockFile), 'released');
  st = sweepStatus(dir);
  assert.deepEqual(st.runs.map((x) => x.state), ['finished', 'pending']);
});

test('status: pending, running (holder), interrupted (dead holder, resume step), finished, failed (why), damaged (the file), with hand-computed ETAs', () => {
  const dir = join(root, 'status', 'exp');
  const exp = { name: 'exp', output: join(root, 'status'), budget: { steps: 10 }, eval: { every: 2 }, seeds: [1], objectives: [{ id: 'a' }, { id: 'b' }, { id: 'c' }, { id: 'd' }, { id: 'e' }, { id: 'f' }] };
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'experiment.json'), JSON.stringify(exp));
  const put = (run: string, files: Record<string, unknown>) => {
    mkdirSync(join(dir, run, 'checkpoint'), { recursive: true });
    for (const [f, v] of Object.entries(files)) writeFileSync(join(dir, run, f), Array.isArray(v) ? v.map((x) => JSON.stringify(x) + '\n').join('') : JSON.stringify(v));
  };
  const rj = (run: string, status: string, step: number, extra = {}) => ({ run, status, step, totalSteps: 10, seed: 1, objective: { id: run[0] }, ...extra });
  // b: running, 3 steps at 10 s each, one evaluation point so far (step 2, 2 benchmarks × 1.5 s).
  put('b-s1', {
    'run.json': rj('b-s1', 'running', 2),
    'metrics.jsonl': [{ step: 1, wallTime: 10 }, { step: 2, wallTime: 20 }, { step: 3, wallTime: 30 }],
    'eval.jsonl': [{ step: 0, evalTime: 9 }, { step: 2, evalTime: 1.5 }, { step: 2, evalTime: 1.5 }],
    'checkpoint/state.json': { step: 2 },
  });
  const held = tryLock(runLockPath(dir, 'b-s1'), { purpose: 'run b-s1 is being trained' });
  assert.ok(isLock(held));
  // c: interrupted at step 5 (checkpoint 4) by a kill -9: its lock names a dead PID on this host.
  put('c-s1', { 'run.json': rj('c-s1', 'running', 4), 'metrics.jsonl': [1, 2, 3, 4, 5].map((s) => ({ step: s, wallTime: 4 * s })), 'checkpoint/state.json': { step: 4 } });
  const deadPid = spawnSync('true').pid!;
  writeFileSync(runLockPath(dir, 'c-s1'), JSON.stringify({ format: 'rlbench-lock/1', purpose: 'run c-s1 is being trained', host: HOST, bootId: BOOT_ID, pidNs: PID_NS, pid: deadPid, pidStart: null, startedAt: '2026-01-01T00:00:00.000Z', token: 'x', ino: null, command: 'rlbench run e.json' }));
  put('d-s1', { 'run.json': rj('d-s1', 'finished', 10), 'metrics.jsonl': [{ step: 10, wallTime: 50 }] });
  put('e-s1', { 'run.json': rj('e-s1', 'failed', 6, { failure: { step: 7, message: 'step 7, objective e: non-finite loss NaN' } }) });
  // f: a truncated metrics.jsonl line.
  put('f-s1', { 'run.json': rj('f-s1', 'running', 1) });
  writeFileSync(join(dir, 'f-s1', 'metrics.jsonl'), '{"step": 1, "wallTime": 3}\n{"step": 2, "wa');
  try {
    const st = sweepStatus(dir);
    assert.deepEqual(st.runs.map((r) => [r.index, r.run, r.state]), [[0, 'a-s1', 'pending'], [1, 'b-s1', 'running'], [2, 'c-s1', 'interrupted'], [3, 'd-s1', 'finished'], [4, 'e-s1', 'failed'], [5, 'f-s1', 'damaged']]);
    assert.deepEqual(st.counts, { pending: 1, running: 1, interrupted: 1, finished: 1, failed: 1, damaged: 1 });
    const [, b, c, d, e, f] = st.runs;
    assert.deepEqual([b!.holder!.host, b!.holder!.pid, b!.holder!.stale], [HOST, process.pid, null]);
    assert.equal(b!.step, 3);
    // 7 steps left × 10 s + evaluation points at 4, 6, 8, 10 × (1.5 + 1.5) s = 70 + 12.
    assert.equal(b!.secondsPerStep, 10);
    assert.equal(b!.eta, 82);
    assert.equal(c!.step, 5);
    assert.equal(c!.checkpointStep, 4);
    assert.match(c!.why!, new RegExp(`^its process is gone: ${HOST.replace(/[.]/g, '\\.')} PID ${deadPid} since 2026-01-01T00:00:00.000Z, heartbeat \\d+ s ago \\(pid ${deadPid} on this host is gone\\)$`));
    assert.equal(c!.eta, 5 * 4, 'no evaluation time is known for c: 5 steps × 4 s');
    assert.equal(d!.fraction, 1);
    assert.equal(e!.why, 'step 7, objective e: non-finite loss NaN');
    assert.match(f!.why!, /f-s1\/metrics\.jsonl:2: truncated or not valid JSON .*; run with --fresh --only f-s1 to start this run over$/);
    assert.equal(st.sft.state, 'not started');
  } finally {
    if (isLock(held)) held.release();
  }
});
