// Sweeps: the stable run order and index selection (flag, Slurm, Kubernetes), the locks that let
// many processes share one results folder, and `status` on hand-built results with known ETAs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { effectiveThreads, indexFromEnv, pickRun, runList } from '../../harness/runs/sweep.ts';
import { claimRun, readLock, runLockPath, tryLock, STALE_S } from '../../harness/runs/locks.ts';
import { sweepStatus } from '../../harness/runs/sweep-status.ts';
import { runExperimentFile } from '../../harness/runs/runner.ts';
import { readJsonl } from '../../harness/runs/results.ts';
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
    // The list is written for `status`.
    assert.deepEqual(JSON.parse(readFileSync(join(root, 'pick', 'pick', 'sweep.json'), 'utf8')).runs.map((r: { run: string }) => r.run), ['grpo-s1', 'dapo-s1', 'grpo-s2', 'dapo-s2']);
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

test('a lock has one holder; a dead holder on this host or a stale heartbeat is taken over; release removes only its own lock', async () => {
  const dir = join(root, 'locks');
  const path = join(dir, 'a.lock');
  const first = tryLock(path, 'test');
  assert.ok('release' in first);
  const second = tryLock(path, 'test');
  assert.ok(!('release' in second));
  assert.equal(second.holder.pid, process.pid);
  assert.equal(second.holder.host, hostname());
  assert.equal(second.holder.live, true);
  first.release();
  assert.equal(readLock(path), null);

  // A holder killed with -9 on this host leaves its file: the next taker sees the dead PID.
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  const deadPid = Number(child.stdout);
  writeFileSync(path, JSON.stringify({ host: hostname(), pid: deadPid, since: '2026-01-01T00:00:00.000Z', what: 'test', token: 'dead' }));
  assert.equal(readLock(path)!.live, false);
  const taken = tryLock(path, 'test');
  assert.ok('release' in taken, 'a dead holder\'s lock is taken over');
  assert.equal(readLock(path)!.pid, process.pid);

  // Another host's holder whose heartbeat stopped is stale after STALE_S; before that it is live.
  const other = { host: 'some-other-node', pid: 1, since: '2026-01-01T00:00:00.000Z', what: 'test', token: 'other' };
  const p2 = join(dir, 'b.lock');
  writeFileSync(p2, JSON.stringify(other));
  assert.equal(readLock(p2)!.live, true);
  const r = tryLock(p2, 'test');
  assert.ok(!('release' in r) && r.holder.host === 'some-other-node');
  const old = new Date(Date.now() - (STALE_S + 5) * 1000);
  utimesSync(p2, old, old);
  assert.equal(readLock(p2)!.live, false);
  const t2 = tryLock(p2, 'test');
  assert.ok('release' in t2);

  // release() leaves a lock that replaced ours alone.
  writeFileSync(path, JSON.stringify({ ...other, token: 'newer' }));
  taken.release();
  assert.equal(readLock(path)!.token, 'newer');
  t2.release();
});

test('a run held by a live process elsewhere is refused with the holder named, once the grace period ends', async () => {
  const dir = join(root, 'held');
  mkdirSync(join(dir, '.locks'), { recursive: true });
  // A live holder: a child process that keeps its lock's heartbeat going.
  const holder = spawn(process.execPath, ['--import', 'tsx', '-e', `
    const { tryLock, runLockPath } = await import('./harness/runs/locks.ts');
    const l = tryLock(runLockPath(${JSON.stringify(dir)}, 'grpo-s1'), 'run grpo-s1');
    process.stdout.write('held\\n');
    setTimeout(() => { l.release(); process.exit(0); }, 60000);
  `], { env: { ...process.env, RLBENCH_LOCK_STALE_S: '2' }, stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await new Promise<void>((res) => holder.stdout!.on('data', (d) => String(d).includes('held') && res()));
    const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', `
      const { claimRun } = await import('./harness/runs/locks.ts');
      try { await claimRun(${JSON.stringify(dir)}, 'grpo-s1', { wait: true }); console.log('CLAIMED'); }
      catch (e) { console.log(e.message); }
    `], { env: { ...process.env, RLBENCH_LOCK_STALE_S: '2' }, encoding: 'utf8' });
    assert.match(r.stdout, new RegExp(`grpo-s1 is being trained by ${hostname()} PID ${holder.pid} since .*\\(heartbeat \\d+ s ago\\); not starting a second copy`));
    // Without waiting (a whole-experiment run), the run is left to its holder at once.
    const now = await claimRun(dir, 'grpo-s1', { wait: false });
    assert.ok(!('release' in now) && now.holder.pid === holder.pid);
  } finally {
    holder.kill('SIGKILL');
  }
  // Killed with -9: its lock is left behind, and is taken over at once on this host.
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(readLock(runLockPath(dir, 'grpo-s1'))!.live, false);
  const mine = await claimRun(dir, 'grpo-s1', { wait: true });
  assert.ok('release' in mine);
  mine.release();
});

function tinyExperiment(name: string, over: Record<string, unknown> = {}): string {
  const exp = {
    name,
    policy: { dModel: 16, nLayers: 1, nHeads: 2, mlpRatio: 2, contextLength: 48 },
    tasks: { trainProblems: 64 },
    benchmarks: [{ name: 'arith-id', limit: 4 }],
    objectives: [{ id: 'grpo' }, { module: plugin, name: 'push' }],
    seeds: [1],
    sft: { steps: 3, batchSize: 4, warmupSteps: 1 },
    rl: { promptsPerStep: 2, rolloutsPerPrompt: 3, maxTokens: 12, epochs: 1, minibatches: 2, lr: 0.01 },
    budget: { steps: 3 },
    eval: { every: 2, k: 2 },
    checkpointEvery: 1,
    execution: { threads: 1 },
    ...over,
  };
  const path = join(root, `${name}.json`);
  writeFileSync(path, JSON.stringify(exp));
  return path;
}

test('two runners at once on one results folder: each run and the SFT are trained once, with the numbers of a lone run', async () => {
  const path = tinyExperiment('shared');
  const out = join(root, 'shared-out');
  const logs: string[][] = [[], []];
  const [a, b] = await Promise.all([0, 1].map((i) => runExperimentFile(path, { outputRoot: out, log: (m) => logs[i]!.push(m) })));
  const trained = (r: typeof a) => r.runs.filter((x) => x.status === 'finished').map((x) => x.run);
  // Every run finished in exactly one of them; the other left it to its holder or found it done.
  assert.deepEqual([...trained(a), ...trained(b)].sort(), ['grpo-s1', 'push-s1']);
  const all = logs.flat();
  assert.equal(all.filter((l) => /^sft: training/.test(l)).length, 1, all.join('\n'));
  for (const run of ['grpo-s1', 'push-s1']) {
    assert.deepEqual(readJsonl<{ step: number }>(join(out, 'shared', run, 'metrics.jsonl')).map((m) => m.step), [1, 2, 3], run);
    assert.deepEqual(readJsonl<{ step: number }>(join(out, 'shared', run, 'eval.jsonl')).map((m) => m.step), [0, 2, 3], run);
  }
  const summary = readFileSync(join(out, 'shared', 'summary.csv'), 'utf8').trim().split('\n');
  assert.deepEqual(summary.slice(1).map((l) => l.split(',')[0]), ['grpo-s1', 'push-s1', 'sft-s1']);
  // Trained alone, by --only, the numbers are the same.
  const solo = join(root, 'solo-out');
  await runExperimentFile(path, { outputRoot: solo, log: quiet, only: 'push-s1' });
  const strip = (p: string) => readJsonl<Record<string, unknown>>(p).map((r) => Object.fromEntries(Object.entries(r).filter(([k]) => k !== 'wallTime' && k !== 'evalTime' && !k.startsWith('time/'))));
  assert.deepEqual(strip(join(solo, 'shared', 'push-s1', 'metrics.jsonl')), strip(join(out, 'shared', 'push-s1', 'metrics.jsonl')));
  assert.ok(!existsSync(join(solo, 'shared', 'grpo-s1')), '--only trains nothing else');
});

test('--sft-only writes the SFT rows and no run; status then shows the SFT ready and every run pending', async () => {
  const path = tinyExperiment('sftonly');
  const out = join(root, 'sftonly-out');
  const r = await runExperimentFile(path, { outputRoot: out, log: quiet, sftOnly: true });
  assert.deepEqual(r.runs, []);
  assert.ok(existsSync(join(out, 'sftonly', 'sft-s1', 'eval.jsonl')));
  assert.ok(!existsSync(join(out, 'sftonly', 'grpo-s1')));
  writeFileSync(join(out, 'sftonly', 'sweep.json'), JSON.stringify({ experiment: 'sftonly', order: 'seeds-major', runs: runList({ seeds: [1] }, [{ name: 'grpo' }, { name: 'push' }]) }));
  const st = sweepStatus(join(out, 'sftonly'));
  assert.equal(st.sft.state, 'ready');
  assert.deepEqual(st.runs.map((x) => x.state), ['pending', 'pending']);
});

test('status: pending, running (holder), interrupted (dead holder, resume step), finished, failed (why), with hand-computed ETAs', () => {
  const dir = join(root, 'status', 'exp');
  const exp = { name: 'exp', output: join(root, 'status'), budget: { steps: 10 }, eval: { every: 2 }, seeds: [1], objectives: [{ id: 'a' }, { id: 'b' }, { id: 'c' }, { id: 'd' }, { id: 'e' }] };
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'experiment.json'), JSON.stringify(exp));
  const put = (run: string, files: Record<string, unknown>) => {
    mkdirSync(join(dir, run, 'checkpoint'), { recursive: true });
    for (const [f, v] of Object.entries(files)) writeFileSync(join(dir, run, f), Array.isArray(v) ? v.map((x) => JSON.stringify(x) + '\n').join('') : JSON.stringify(v));
  };
  const rj = (run: string, status: string, step: number, extra = {}) => ({ run, status, step, totalSteps: 10, ...extra });
  // b: running, 3 steps at 10 s each, one evaluation point so far (step 2, 2 benchmarks × 1.5 s).
  put('b-s1', {
    'run.json': rj('b-s1', 'running', 2),
    'metrics.jsonl': [{ step: 1, wallTime: 10 }, { step: 2, wallTime: 20 }, { step: 3, wallTime: 30 }],
    'eval.jsonl': [{ step: 0, evalTime: 9 }, { step: 2, evalTime: 1.5 }, { step: 2, evalTime: 1.5 }],
    'checkpoint/state.json': { step: 2 },
  });
  const held = tryLock(runLockPath(dir, 'b-s1'), 'run b-s1');
  assert.ok('release' in held);
  // c: interrupted at step 5 (checkpoint 4) by a kill -9: its lock names a dead PID.
  put('c-s1', { 'run.json': rj('c-s1', 'running', 4), 'metrics.jsonl': [1, 2, 3, 4, 5].map((s) => ({ step: s, wallTime: 4 * s })), 'checkpoint/state.json': { step: 4 } });
  const deadPid = Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout);
  writeFileSync(runLockPath(dir, 'c-s1'), JSON.stringify({ host: hostname(), pid: deadPid, since: '2026-01-01T00:00:00.000Z', what: 'run c-s1', token: 'x' }));
  put('d-s1', { 'run.json': rj('d-s1', 'finished', 10), 'metrics.jsonl': [{ step: 10, wallTime: 50 }] });
  put('e-s1', { 'run.json': rj('e-s1', 'failed', 6, { failure: { step: 7, message: 'step 7, objective e: non-finite loss NaN' } }) });
  try {
    const st = sweepStatus(dir);
    assert.deepEqual(st.runs.map((r) => [r.index, r.run, r.state]), [[0, 'a-s1', 'pending'], [1, 'b-s1', 'running'], [2, 'c-s1', 'interrupted'], [3, 'd-s1', 'finished'], [4, 'e-s1', 'failed']]);
    assert.deepEqual(st.counts, { pending: 1, running: 1, interrupted: 1, finished: 1, failed: 1 });
    const [, b, c, d, e] = st.runs;
    assert.equal(b!.holder!.pid, process.pid);
    assert.equal(b!.step, 3);
    // 7 steps left × 10 s + evaluation points at 4, 6, 8, 10 × (1.5 + 1.5) s = 70 + 12.
    assert.equal(b!.secondsPerStep, 10);
    assert.equal(b!.eta, 82);
    assert.equal(c!.step, 5);
    assert.equal(c!.checkpointStep, 4);
    assert.match(c!.why!, new RegExp(`its process is gone: ${hostname()} PID ${deadPid}`));
    assert.equal(c!.eta, 5 * 4, 'no evaluation time is known for c: 5 steps × 4 s');
    assert.equal(d!.fraction, 1);
    assert.equal(e!.why, 'step 7, objective e: non-finite loss NaN');
    assert.equal(st.sft.state, 'not started');
  } finally {
    held.release();
  }
});
