// Fault injection with real processes (bin/rlbench.js, as a user runs it), on a tiny experiment
// whose plugin objective lives in a temporary folder outside this package:
// - SIGKILL at chosen renames (RLBENCH_TEST_KILL_AT): while the SFT cache entry is swapped in,
//   between the two renames of the final checkpoint swap, and after the final checkpoint but
//   before the final run.json; each resumes to exactly the uninterrupted numbers and leaves no
//   temporary file, `.old` folder or lock behind (resumes run in this process, to save startups);
// - SIGINT mid-run and SIGTERM mid-SFT: one line saying where it stopped and how to resume,
//   nothing half-written, and the resume gives the uninterrupted numbers;
// - a full disk on a real tiny tmpfs: one clear message, exit 1, no temporary files, and the run
//   after freeing space gives the uninterrupted numbers.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeTinyExperiment } from '../util/tiny-experiment.ts';
import { runExperimentFile } from '../../harness/runs/runner.ts';
import { leftovers, mountTmpfs, numbers, rlbench } from '../util/helpers.ts';

const root = mkdtempSync(join(tmpdir(), 'rlbench-faults-'));
after(() => rmSync(root, { recursive: true, force: true }));
copyFileSync(join(process.cwd(), 'tests/runs/fixtures/push-objective.ts'), join(root, 'push.ts'));
const RUNS = ['sft-s1', 'grpo-s1', 'push-s1'];

let expNo = 0;

/** An experiment file writing to `out` (its plugin is ./push.ts next to it, outside this package). */
function expFile(out: string, over: Record<string, unknown> = {}): string {
  return writeTinyExperiment(join(root, `exp-${expNo++}.json`), {
    objectives: [{ id: 'grpo' }, { module: './push.ts', name: 'push' }],
    output: out,
    ...over,
  });
}

const ref = join(root, 'ref');
let renames: string[] = [];

before(async () => {
  // The reference run, in this process (the CLI makes exactly the same renames), listing its renames.
  const log = join(root, 'renames.log');
  process.env.RLBENCH_TEST_RENAME_LOG = log;
  try {
    await runExperimentFile(expFile(ref), { log: () => {} });
  } finally {
    delete process.env.RLBENCH_TEST_RENAME_LOG;
  }
  renames = readFileSync(log, 'utf8').trim().split('\n');
});

/** Resumes in this process (the same code as the CLI); returns its log lines. */
async function resume(path: string): Promise<string> {
  const logs: string[] = [];
  const r = await runExperimentFile(path, { log: (m) => logs.push(m) });
  assert.deepEqual(r.runs.map((x) => x.status).filter((s) => s !== 'finished' && s !== 'skipped'), []);
  return logs.join('\n');
}

function sameAsReference(out: string): void {
  for (const run of RUNS) assert.deepEqual(numbers(join(out, 'tiny'), run), numbers(join(ref, 'tiny'), run), run);
}

/** The 1-based index of the last (or first) rename whose target matches. */
function renameIndex(pattern: RegExp, which: 'first' | 'last'): number {
  const hits = renames.filter((l) => pattern.test(l.split('\t')[1]!));
  assert.ok(hits.length > 0, `a rename matching ${pattern}`);
  return Number((which === 'first' ? hits[0] : hits[hits.length - 1])!.split('\t')[0]);
}

async function killedAt(name: string, pattern: RegExp, which: 'first' | 'last'): Promise<{ out: string; path: string }> {
  const out = join(root, name);
  const path = expFile(out);
  const r = await rlbench(['run', path], { env: { RLBENCH_TEST_KILL_AT: String(renameIndex(pattern, which)) } });
  assert.equal(r.signal, 'SIGKILL', r.stderr);
  return { out, path };
}

test('SIGKILL while the SFT cache entry is renamed into place: its temporary folder is removed and SFT is trained again', async () => {
  const { out, path } = await killedAt('kill-sft', /\/\.cache\/sft-[0-9a-f]+$/, 'first');
  assert.ok(leftovers(out).some((p) => /\/\.cache\/\.sft-[0-9a-f]+\.tmp-\d+-/.test(p)), 'the killed process left its temporary SFT folder');
  const logs = await resume(path);
  assert.match(logs, /sft: removed .*\.sft-[0-9a-f]+\.tmp-\d+-\S+ \(left by a process that is gone\)/);
  assert.match(logs, /sft: training 3 steps/);
  sameAsReference(out);
  assert.deepEqual(leftovers(out), []);
});

test('SIGKILL between the two renames of the final checkpoint swap: the previous checkpoint is recovered', async () => {
  const { out, path } = await killedAt('kill-swap', /\/grpo-s1\/checkpoint$/, 'last');
  const run = join(out, 'tiny', 'grpo-s1');
  assert.equal(existsSync(join(run, 'checkpoint')), false);
  assert.ok(existsSync(join(run, '.checkpoint.old')));
  assert.ok(leftovers(out).some((p) => /grpo-s1\/\.checkpoint\.tmp-\d+-/.test(p)));
  const logs = await resume(path);
  assert.match(logs, /grpo-s1: resuming from step 2/);
  sameAsReference(out);
  assert.deepEqual(leftovers(out), []);
});

test('SIGKILL after the final checkpoint, before the final run.json: the next start finishes the run', async () => {
  const { out, path } = await killedAt('kill-final', /\/grpo-s1\/run\.json$/, 'last');
  const run = join(out, 'tiny', 'grpo-s1');
  const rj = JSON.parse(readFileSync(join(run, 'run.json'), 'utf8'));
  assert.deepEqual([rj.status, rj.step], ['running', 2]);
  assert.equal(JSON.parse(readFileSync(join(run, 'checkpoint', 'state.json'), 'utf8')).step, 4);
  const metrics = readFileSync(join(run, 'metrics.jsonl'), 'utf8');
  const logs = await resume(path);
  assert.match(logs, /grpo-s1: resuming from step 4/);
  assert.doesNotMatch(logs, /grpo-s1: eval at step/, 'nothing is trained or evaluated again');
  assert.equal(JSON.parse(readFileSync(join(run, 'run.json'), 'utf8')).status, 'finished');
  assert.equal(readFileSync(join(run, 'metrics.jsonl'), 'utf8'), metrics);
  assert.doesNotMatch(await resume(path), /grpo-s1: resuming/, 'finished for good, not "resuming from step 4" forever');
  sameAsReference(out);
  assert.deepEqual(leftovers(out), []);
});

test('SIGINT mid-run: one line saying where it stopped and how to resume; nothing left half-written', async () => {
  const out = join(root, 'sigint');
  const path = expFile(out);
  let sent = false;
  const r = await rlbench(['run', path], {
    onStderr: (chunk, child) => {
      if (!sent && /^grpo-s1 +step 3\/4/m.test(chunk)) {
        sent = true;
        child.kill('SIGINT');
      }
    },
  });
  assert.equal(r.code, 130, r.stderr);
  const lines = r.stderr.trim().split('\n').filter((l) => l.includes('interrupted'));
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, new RegExp(`^rlbench: interrupted by SIGINT: (grpo|push)-s1 stopped (after step \\d|before its first step of this session); (it resumes from its checkpoint at step \\d|it has no checkpoint yet, so it starts over); to resume, run: rlbench run ${path.replace(/[.]/g, '\\.')}$`));
  assert.deepEqual(leftovers(out), [], 'no temporary files, no locks');
  await resume(path);
  sameAsReference(out);
});

test('SIGTERM during SFT: exit 143 with the line, the SFT lock released', async () => {
  const out = join(root, 'sigterm');
  const path = expFile(out, { sft: { steps: 5000, batchSize: 4, warmupSteps: 1 } });
  const r = await rlbench(['run', path], { onStderr: (chunk, child) => void (/sft: training/.test(chunk) && child.kill('SIGTERM')) });
  assert.equal(r.code, 143, r.stderr);
  assert.match(r.stderr, /\nrlbench: interrupted by SIGTERM: stopped while training the SFT warm start; it is cached only once complete, so it starts over; to resume, run: rlbench run \S+\n$/);
  assert.deepEqual(leftovers(out), []);
});

test('a full disk (tiny tmpfs): "disk full while writing …", exit 1, no temporary files; after freeing space the run completes', async (t) => {
  const m = mountTmpfs('1m');
  if (typeof m === 'string') return t.skip(m);
  try {
    const out = join(m.path, 'results');
    // Leave about 150 kB: enough for the SFT cache and a first checkpoint, not for the rest.
    const st = statfsSync(m.path);
    const filler = join(m.path, 'filler');
    writeFileSync(filler, Buffer.alloc(Math.max(0, st.bavail * st.bsize - 150_000)));
    const path = expFile(out);
    const r = await rlbench(['run', path]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /\nrlbench: error: disk full while writing \S+; nothing was lost; free space and run again\n$/);
    assert.doesNotMatch(r.stderr, /ENOSPC|\n\s+at /, 'no raw error or stack');
    assert.deepEqual(leftovers(out), [], 'no temporary files, no locks');
    rmSync(filler);
    await resume(path);
    sameAsReference(out);
    assert.deepEqual(leftovers(out), []);
  } finally {
    m.unmount();
  }
});
