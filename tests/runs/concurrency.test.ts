// Two `rlbench run`s on one experiment (2 objectives × 2 seeds), as real processes. The overlap
// is made certain rather than left to timing: A is frozen (SIGSTOP) while training the SFT warm
// start, B starts and must wait for it; later the first process to start a run is frozen inside
// it while the other finishes, which must skip that run. Then: SFT trained once, every run trained
// by exactly one process, no row written twice, summary.csv complete, every number identical to
// a single process's, and no lock or temporary file left.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeTinyExperiment } from '../util/tiny-experiment.ts';
import { runExperimentFile } from '../../harness/runs/runner.ts';
import { readJsonl } from '../../harness/runs/results.ts';
import { leftovers, numbers } from '../util/helpers.ts';

const root = mkdtempSync(join(tmpdir(), 'rlbench-conc-'));
after(() => rmSync(root, { recursive: true, force: true }));
copyFileSync(join(process.cwd(), 'tests/runs/fixtures/push-objective.ts'), join(root, 'push.ts'));
const RUNS = ['grpo-s1', 'push-s1', 'grpo-s2', 'push-s2'];

function expFile(out: string): string {
  return writeTinyExperiment(join(root, `${out.split('/').pop()}.json`), {
    objectives: [{ id: 'grpo' }, { module: './push.ts', name: 'push' }],
    seeds: [1, 2],
    output: out,
  });
}

interface Proc {
  child: ChildProcess;
  stderr: string;
  stdout: string;
  done: Promise<number | null>;
}

function start(path: string, onStderr: (p: Proc) => void): Proc {
  const child = spawn(process.execPath, [join(process.cwd(), 'bin/rlbench.js'), 'run', path], { stdio: ['ignore', 'pipe', 'pipe'] });
  const p: Proc = { child, stderr: '', stdout: '', done: Promise.resolve(null) };
  child.stdout!.on('data', (d) => (p.stdout += d));
  child.stderr!.on('data', (d) => {
    p.stderr += d;
    onStderr(p);
  });
  p.done = new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve(code));
  });
  return p;
}

test('two processes on one experiment: SFT trained once, each run by one process, no row twice, same numbers', async () => {
  const ref = join(root, 'ref');
  await runExperimentFile(expFile(ref), { log: () => {} });

  const out = join(root, 'shared');
  const path = expFile(out);
  let b: Proc | null = null;
  let frozen: { p: Proc; run: string } | null = null;
  const react = () => {
    // A trains the SFT: freeze it there and start B, which must wait for it.
    if (!b && /sft: training/.test(a.stderr)) {
      a.child.kill('SIGSTOP');
      b = start(path, react);
    }
    if (b && !resumedA && /sft: waiting: /.test(b.stderr)) {
      resumedA = true;
      a.child.kill('SIGCONT');
    }
    // The first process to start a run is frozen inside it until the other has finished.
    if (!frozen && b) {
      for (const p of [a, b]) {
        const m = /^(\S+) +step 1\/4/m.exec(p.stderr);
        if (m) {
          p.child.kill('SIGSTOP');
          frozen = { p, run: m[1]! };
          const other = p === a ? b : a;
          void other.done.then(() => p.child.kill('SIGCONT'));
          break;
        }
      }
    }
  };
  let resumedA = false;
  const a: Proc = start(path, react);
  const codeA = await a.done;
  const bp = b as Proc | null; // assigned in react(), which TypeScript's narrowing cannot see
  assert.ok(bp, 'B was started');
  const codeB = await bp.done;
  assert.deepEqual([codeA, codeB], [0, 0], `A:\n${a.stderr}\nB:\n${bp.stderr}`);
  const both = [a.stderr, bp.stderr];

  // The SFT warm start was trained once: B waited for A, naming it, then reused it.
  assert.equal(both.join('').match(/sft: training/g)?.length, 1);
  assert.match(both[1]!, new RegExp(`sft: waiting: the SFT warm start sft-[0-9a-f]+ is being trained by pid ${a.child.pid} on host \\S+ \\(this host\\)`));
  assert.match(both[1]!, /sft: reusing cached checkpoint/);

  // The frozen process's run was skipped by the other one, with the holder named.
  assert.ok(frozen, 'a process was frozen inside a run');
  const { p: holder, run: held } = frozen as { p: Proc; run: string };
  const other = holder === a ? bp : a;
  assert.match(other.stderr, new RegExp(`${held}: skipping: run ${held} is being trained by pid ${holder.child.pid} on host \\S+ \\(this host\\)`));
  assert.match(other.stdout, /1 being trained by another process/);

  // Every run was trained by exactly one process, once.
  for (const run of RUNS) {
    assert.equal(both.join('').match(new RegExp(`${run}: eval at step 4`, 'g'))?.length, 1, run);
    assert.deepEqual(readJsonl<{ step: number }>(join(out, 'tiny', run, 'eval.jsonl')).map((e) => e.step), [0, 2, 4], run);
    assert.deepEqual(readJsonl<{ step: number }>(join(out, 'tiny', run, 'metrics.jsonl')).map((e) => e.step), [1, 2, 3, 4], run);
  }
  // summary.csv: rebuilt last by the process that finished last; complete, no row twice.
  const summary = readFileSync(join(out, 'tiny', 'summary.csv'), 'utf8').trim().split('\n').slice(1);
  assert.equal(new Set(summary).size, summary.length);
  assert.deepEqual(summary.map((l) => l.split(',').slice(0, 4).join(',')).sort(), ['grpo-s1,grpo,1,finished', 'grpo-s2,grpo,2,finished', 'push-s1,push,1,finished', 'push-s2,push,2,finished', 'sft-s1,sft,1,finished', 'sft-s2,sft,2,finished']);
  for (const run of [...RUNS, 'sft-s1', 'sft-s2']) assert.deepEqual(numbers(join(out, 'tiny'), run), numbers(join(ref, 'tiny'), run), run);
  assert.deepEqual(leftovers(out), []);
});
