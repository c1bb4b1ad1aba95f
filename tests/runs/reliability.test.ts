// Reliability of the runner, in process on a tiny experiment (2 objectives × 1 seed × 4 steps):
// a resume that starts at the final step finishes the run; every kind of damaged file (truncated,
// flipped bytes, invalid values) is named with what to do, never trained on, and blocks only its
// own run; a damaged SFT cache asks for --fresh-sft; a moved results folder resumes; temporary
// files of dead writers are removed; a run locked by a live process is skipped; an experiment
// that cannot fit in memory is refused before anything is allocated.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeTinyExperiment } from '../util/tiny-experiment.ts';
import { runExperimentFile, type ExperimentResult } from '../../harness/runs/runner.ts';
import { readJsonl } from '../../harness/runs/results.ts';
import { HOST, HOST_TAG, BOOT_ID, PID_NS } from '../../harness/util/host.ts';
import { numbers } from '../util/helpers.ts';

const root = mkdtempSync(join(tmpdir(), 'rlbench-rel-'));
const quiet = () => {};
const ref = join(root, 'ref');
const mid = join(root, 'mid');
let caseNo = 0;

function experiment(over: Record<string, unknown> = {}): string {
  return writeTinyExperiment(join(root, `exp-${caseNo++}.json`), over);
}
const path = experiment();

/** A fresh copy of a results root (runs and SFT cache). */
function copyOf(src: string): string {
  const dst = join(root, `case-${caseNo++}`);
  cpSync(src, dst, { recursive: true });
  return dst;
}

const statuses = (r: ExperimentResult) => r.runs.map((x) => [x.run, x.status]);

before(async () => {
  await runExperimentFile(path, { outputRoot: ref, log: quiet });
  // grpo-s1 crashes right after step 3: its checkpoint is step 2; push-s1 has not started.
  await assert.rejects(
    runExperimentFile(path, { outputRoot: mid, log: quiet, afterStep: (run, step) => { if (run === 'grpo-s1' && step === 3) throw new Error('simulated crash'); } }),
    /simulated crash/,
  );
});

test('a resume that starts at the final step finishes the run without training again', async () => {
  const out = copyOf(ref);
  const rjPath = join(out, 'tiny', 'grpo-s1', 'run.json');
  // Killed after the final checkpoint, before the final run.json: run.json still says step 2, running.
  const rj = JSON.parse(readFileSync(rjPath, 'utf8'));
  writeFileSync(rjPath, JSON.stringify({ ...rj, status: 'running', step: 2, finishedAt: undefined }));
  const metricsBefore = readFileSync(join(out, 'tiny', 'grpo-s1', 'metrics.jsonl'), 'utf8');
  const logs: string[] = [];
  const r = await runExperimentFile(path, { outputRoot: out, log: (m) => logs.push(m) });
  assert.deepEqual(statuses(r), [['grpo-s1', 'finished'], ['push-s1', 'skipped']]);
  assert.ok(logs.some((l) => l === 'grpo-s1: resuming from step 4'), logs.join('\n'));
  const after = JSON.parse(readFileSync(rjPath, 'utf8'));
  assert.deepEqual([after.status, after.step, typeof after.finishedAt], ['finished', 4, 'string']);
  assert.equal(readFileSync(join(out, 'tiny', 'grpo-s1', 'metrics.jsonl'), 'utf8'), metricsBefore, 'nothing was trained again');
  assert.deepEqual(numbers(join(out, 'tiny'), 'grpo-s1'), numbers(join(ref, 'tiny'), 'grpo-s1'));
  // And if the final evaluation rows are missing too, they are evaluated again, identically.
  const evalPath = join(out, 'tiny', 'grpo-s1', 'eval.jsonl');
  writeFileSync(evalPath, readFileSync(evalPath, 'utf8').split('\n').filter((l) => l && JSON.parse(l).step !== 4).map((l) => l + '\n').join(''));
  writeFileSync(rjPath, JSON.stringify({ ...after, status: 'running' }));
  await runExperimentFile(path, { outputRoot: out, log: quiet });
  assert.deepEqual(numbers(join(out, 'tiny'), 'grpo-s1'), numbers(join(ref, 'tiny'), 'grpo-s1'));
  assert.equal(JSON.parse(readFileSync(rjPath, 'utf8')).status, 'finished');
});

/** Damages, per case, one file of grpo-s1 in a copy of the interrupted experiment. */
const flip = (file: string, at: (n: number) => number) => {
  const b = readFileSync(file);
  const i = at(b.length);
  b[i] = b[i]! ^ 0x5a;
  writeFileSync(file, b);
};
const truncate = (file: string) => truncateSync(file, Math.floor(readFileSync(file).length / 2));
const ck = (run: string, f: string) => join(run, 'checkpoint', f);
const noSums = (run: string) => rmSync(ck(run, 'SHA256SUMS'));
const damages: [string, (run: string) => void, RegExp][] = [
  ['run.json truncated', (d) => truncate(join(d, 'run.json')), /grpo-s1\/run\.json: truncated or not valid JSON \(.*\)/],
  ['state.json, one byte flipped', (d) => flip(ck(d, 'state.json'), (n) => n >> 1), /checkpoint\/state\.json: checksum mismatch: the file is damaged/],
  ['optimizer.bin truncated', (d) => truncate(ck(d, 'optimizer.bin')), /checkpoint\/optimizer\.bin: checksum mismatch/],
  ['policy.onnx, random bytes', (d) => flip(ck(d, 'policy.onnx'), (n) => n - 100), /checkpoint\/policy\.onnx: checksum mismatch: the file is damaged \(its sha256 differs from the one recorded in .*policy\.json\)/],
  ['policy.json truncated', (d) => truncate(ck(d, 'policy.json')), /checkpoint\/policy\.json: checksum mismatch/],
  ['SHA256SUMS garbled', (d) => writeFileSync(ck(d, 'SHA256SUMS'), 'not a checksum\n'), /checkpoint\/SHA256SUMS:1: not a sha256sum line/],
  ['metrics.jsonl cut mid-line', (d) => { const t = readFileSync(join(d, 'metrics.jsonl'), 'utf8'); writeFileSync(join(d, 'metrics.jsonl'), t.slice(0, t.indexOf('\n') + 40)); }, /grpo-s1\/metrics\.jsonl:2: truncated or not valid JSON/],
  ['eval.jsonl garbled', (d) => writeFileSync(join(d, 'eval.jsonl'), readFileSync(join(d, 'eval.jsonl'), 'utf8').replace(/\n\{/, '\n\x1b[2J{')), /grpo-s1\/eval\.jsonl:2: truncated or not valid JSON \(.*\\x1b/],
  // Without checksums (a checkpoint from before they existed), the values themselves are checked.
  ['state.json step -3 (no checksums)', (d) => { noSums(d); const s = JSON.parse(readFileSync(ck(d, 'state.json'), 'utf8')); writeFileSync(ck(d, 'state.json'), JSON.stringify({ ...s, step: -3 })); }, /state\.json: step must be an integer >= 0, got -3/],
  ['state.json cursor 1.5 (no checksums)', (d) => { noSums(d); const s = JSON.parse(readFileSync(ck(d, 'state.json'), 'utf8')); writeFileSync(ck(d, 'state.json'), JSON.stringify({ ...s, cursor: 1.5 })); }, /state\.json: cursor must be an integer >= 0, got 1\.5/],
  ['optimizer.bin truncated (no checksums)', (d) => { noSums(d); truncate(ck(d, 'optimizer.bin')); }, /optimizer\.bin: holds \d+ bytes, expected \d+ \(float32 m then v/],
  ['policy.onnx truncated (no checksums)', (d) => { noSums(d); const pj = JSON.parse(readFileSync(ck(d, 'policy.json'), 'utf8')); delete pj.sha256; writeFileSync(ck(d, 'policy.json'), JSON.stringify(pj)); truncate(ck(d, 'policy.onnx')); }, /policy\.onnx: truncated or not a valid ONNX file/],
];

test('a damaged file of any kind is named with the way out, never trained on, and blocks only its run', async () => {
  for (const [i, [what, damage, message]] of damages.entries()) {
    const out = copyOf(mid);
    const run = join(out, 'tiny', 'grpo-s1');
    damage(run);
    const snapshot = readdirSync(join(run, 'checkpoint')).map((f) => readFileSync(join(run, 'checkpoint', f)));
    const logs: string[] = [];
    // The first cases run the whole experiment (the other run must go on); the rest only the damaged run.
    const whole = i < 3;
    const r = await runExperimentFile(path, { outputRoot: out, log: (m) => logs.push(m), ...(whole ? {} : { only: 'grpo-s1' }) });
    assert.deepEqual(statuses(r), whole ? [['grpo-s1', 'corrupt'], ['push-s1', 'finished']] : [['grpo-s1', 'corrupt']], what);
    const failure = r.runs[0]!.failure!;
    assert.match(failure, message, what);
    assert.match(failure, /; run with --fresh --only grpo-s1 to start this run over$/, what);
    assert.ok(!/at \w+ \(|SyntaxError|RangeError/.test(failure), `${what}: no raw error or stack: ${failure}`);
    assert.ok(logs.some((l) => l.startsWith('grpo-s1: DAMAGED: ')), what);
    assert.deepEqual(readdirSync(join(run, 'checkpoint')).map((f) => readFileSync(join(run, 'checkpoint', f))), snapshot, `${what}: the damaged checkpoint is left as it was`);
    if (whole) assert.deepEqual(numbers(join(out, 'tiny'), 'push-s1'), numbers(join(ref, 'tiny'), 'push-s1'), `${what}: the other run is unaffected`);
    if (what === 'run.json truncated') {
      assert.ok(!readFileSync(join(out, 'tiny', 'summary.csv'), 'utf8').includes('grpo-s1'), 'a damaged run is left out of the summary');
      assert.ok(logs.some((l) => /^summaries: left out grpo-s1: .*run\.json/.test(l)));
    }
    if (what === 'policy.onnx, random bytes') {
      // The way out works: start that run over.
      const again = await runExperimentFile(path, { outputRoot: out, log: quiet, fresh: true, only: 'grpo-s1' });
      assert.deepEqual(statuses(again), [['grpo-s1', 'finished']]);
      assert.deepEqual(numbers(join(out, 'tiny'), 'grpo-s1'), numbers(join(ref, 'tiny'), 'grpo-s1'));
    }
  }
});

test('a damaged experiment.json or SFT cache stops the experiment with the file named; --fresh-sft retrains', async () => {
  const out = copyOf(mid);
  writeFileSync(join(out, 'tiny', 'experiment.json'), '{"name": "tiny", "pol');
  await assert.rejects(runExperimentFile(path, { outputRoot: out, log: quiet }), /tiny\/experiment\.json: truncated or not valid JSON \(.*\); restore it, or run with --fresh to start the experiment over/);

  const cache = copyOf(ref);
  const entry = readdirSync(join(cache, '.cache')).find((n) => n.startsWith('sft-'))!;
  flip(join(cache, '.cache', entry, 'policy.onnx'), (n) => n - 64);
  await assert.rejects(runExperimentFile(path, { outputRoot: cache, log: quiet, fresh: true }), new RegExp(`\\.cache/${entry}/policy\\.onnx: checksum mismatch: the file is damaged .*; run with --fresh-sft to train it again \\(or delete .*${entry}\\)`));
  const logs: string[] = [];
  const r = await runExperimentFile(path, { outputRoot: cache, log: (m) => logs.push(m), fresh: true, freshSft: true });
  assert.deepEqual(statuses(r), [['grpo-s1', 'finished'], ['push-s1', 'finished']]);
  assert.ok(logs.some((l) => /^sft: training 3 steps/.test(l)));
  for (const run of ['sft-s1', 'grpo-s1', 'push-s1']) assert.deepEqual(numbers(join(cache, 'tiny'), run), numbers(join(ref, 'tiny'), run), run);

  writeFileSync(join(cache, '.cache', entry, 'sft.json'), '{"hash": "');
  await assert.rejects(runExperimentFile(path, { outputRoot: cache, log: quiet }), new RegExp(`${entry}/sft\\.json: checksum mismatch.*--fresh-sft`));
});

test('damaged SFT rows are evaluated again, identically', async () => {
  const out = copyOf(ref);
  writeFileSync(join(out, 'tiny', 'sft-s1', 'eval.jsonl'), '{"step": 0, "bench');
  const logs: string[] = [];
  await runExperimentFile(path, { outputRoot: out, log: (m) => logs.push(m) });
  assert.ok(logs.some((l) => /^sft-s1: truncated or not valid JSON .* in .*sft-s1\/eval\.jsonl:1; evaluating the SFT rows again$/.test(l)), logs.join('\n'));
  assert.deepEqual(numbers(join(out, 'tiny'), 'sft-s1'), numbers(join(ref, 'tiny'), 'sft-s1'));
});

test('a moved results folder resumes: location-only fields are not part of the config check', async () => {
  const moved = join(root, 'moved-elsewhere');
  cpSync(mid, moved, { recursive: true });
  const p = experiment({ output: moved });
  const logs: string[] = [];
  const r = await runExperimentFile(p, { log: (m) => logs.push(m) });
  assert.deepEqual(statuses(r), [['grpo-s1', 'finished'], ['push-s1', 'finished']]);
  assert.ok(logs.includes('grpo-s1: resuming from step 2'), logs.join('\n'));
  for (const run of ['grpo-s1', 'push-s1']) assert.deepEqual(numbers(join(moved, 'tiny'), run), numbers(join(ref, 'tiny'), run), run);
});

test('temporary files of dead writers are removed on the next start, never a live writer\'s', async () => {
  const out = copyOf(mid);
  const dead = spawnSync('true').pid!;
  const live = spawn('sleep', ['30']);
  try {
    const run = join(out, 'tiny', 'grpo-s1');
    const planted = {
      deadCheckpoint: join(run, `.checkpoint.tmp-${dead}-${HOST_TAG}`),
      deadRunJson: join(run, `.run.json.tmp-${dead}-${HOST_TAG}`),
      oldFormat: join(run, `.checkpoint.tmp-${dead}`),
      deadSft: join(out, '.cache', `.sft-0123456789abcdef.tmp-${dead}-${HOST_TAG}`),
      deadSummary: join(out, 'tiny', `.summary.csv.tmp-${dead}-${HOST_TAG}`),
      deadLockFile: join(out, 'tiny', '.locks', `.grpo-s1.lock.tmp-${dead}-${HOST_TAG}`),
      liveCheckpoint: join(run, `.checkpoint.tmp-${live.pid}-${HOST_TAG}`),
    };
    mkdirSync(join(out, 'tiny', '.locks'), { recursive: true });
    for (const [k, p] of Object.entries(planted)) {
      if (k.includes('Checkpoint') || k === 'oldFormat' || k === 'deadSft') {
        mkdirSync(p);
        writeFileSync(join(p, 'policy.onnx'), 'partial');
      } else writeFileSync(p, 'partial');
    }
    const logs: string[] = [];
    await runExperimentFile(path, { outputRoot: out, log: (m) => logs.push(m) });
    for (const [k, p] of Object.entries(planted)) assert.equal(existsSync(p), k === 'liveCheckpoint', `${k}: ${p}`);
    assert.ok(logs.some((l) => l.startsWith(`grpo-s1: removed ${planted.deadCheckpoint}`)));
    assert.deepEqual(numbers(join(out, 'tiny'), 'grpo-s1'), numbers(join(ref, 'tiny'), 'grpo-s1'));
  } finally {
    live.kill();
  }
});

test('a run locked by a live process is skipped with the holder named; --fresh (also with --only) refuses to delete it; a dead holder\'s lock is taken over', async () => {
  const out = copyOf(mid);
  const live = spawn('sleep', ['30']);
  const lockFile = join(out, 'tiny', '.locks', 'grpo-s1.lock');
  const owner = (pid: number) => JSON.stringify({ format: 'rlbench-lock/1', purpose: 'run grpo-s1 is being trained', host: HOST, bootId: BOOT_ID, pidNs: PID_NS, pid, pidStart: null, startedAt: '2026-11-27T10:00:00.000Z', token: 't', ino: null, command: 'rlbench run other.json' });
  try {
    mkdirSync(join(out, 'tiny', '.locks'), { recursive: true });
    writeFileSync(lockFile, owner(live.pid!));
    const r = await runExperimentFile(path, { outputRoot: out, log: quiet });
    assert.deepEqual(statuses(r), [['grpo-s1', 'busy'], ['push-s1', 'finished']]);
    assert.match(r.runs[0]!.failure!, new RegExp(`^run grpo-s1 is being trained by pid ${live.pid} on host .* \\(this host\\) since 2026-11-27T10:00:00.000Z`));
    assert.equal(JSON.parse(readFileSync(join(out, 'tiny', 'grpo-s1', 'run.json'), 'utf8')).step, 2, 'the locked run was not touched');
    await assert.rejects(runExperimentFile(path, { outputRoot: out, log: quiet, fresh: true }), /cannot start grpo-s1 over: run grpo-s1 is being trained by pid/);
    // --fresh --only (and --index, which selects a run the same way) takes the run's lock before deleting.
    await assert.rejects(runExperimentFile(path, { outputRoot: out, log: quiet, fresh: true, only: 'grpo-s1' }), /cannot start grpo-s1 over: run grpo-s1 is being trained by pid/);
    assert.ok(existsSync(join(out, 'tiny', 'grpo-s1', 'run.json')), '--fresh deleted nothing');
  } finally {
    live.kill();
  }
  writeFileSync(lockFile, owner(spawnSync('true').pid!));
  const logs: string[] = [];
  const r = await runExperimentFile(path, { outputRoot: out, log: (m) => logs.push(m) });
  assert.deepEqual(statuses(r), [['grpo-s1', 'finished'], ['push-s1', 'skipped']]);
  assert.ok(logs.some((l) => /^grpo-s1: taking over the lock of pid \d+ on host .*: pid \d+ on this host is gone$/.test(l)), logs.join('\n'));
  assert.deepEqual(numbers(join(out, 'tiny'), 'grpo-s1'), numbers(join(ref, 'tiny'), 'grpo-s1'));
  assert.deepEqual(readdirSync(join(out, 'tiny', '.locks')), [], 'every lock released');
});

test('an experiment that cannot fit in memory is refused before anything is allocated or written', async () => {
  const out = join(root, 'huge');
  const p = experiment({ name: 'huge', policy: { dModel: 8192, nLayers: 128, nHeads: 64, mlpRatio: 4, contextLength: 128 } });
  const t0 = performance.now();
  await assert.rejects(runExperimentFile(p, { outputRoot: out, log: quiet }), (e: unknown) => {
    const m = (e as Error).message;
    assert.match(m, /this experiment needs about [\d.]+ TB of memory \(weights, frozen reference, gradient \(JavaScript \+ ONNX Runtime arena\), AdamW moments and decay mask, checkpoint serialisation \(37 bytes × 103,\d{3},\d{3},\d{3} parameters\): [\d.]+ TB;/);
    assert.match(m, /but this machine has [\d.]+ GB.*available now\. Make the policy, .* or run with --no-memory-check to try anyway$/);
    return true;
  });
  assert.ok(performance.now() - t0 < 30_000);
  assert.equal(existsSync(out), false, 'nothing written');
});

test('a moved dataset resumes (benchmarks[].path is location-only); changed data is refused by its digest', async () => {
  const data = join(root, 'data-a');
  mkdirSync(data);
  const file = join(data, 'tiny-gsm8k.jsonl');
  const rows = ['1+2', '3+4', '5+1'].map((q, i) => JSON.stringify({ question: q, answer: `${q} #### ${[3, 7, 6][i]}` }) + '\n');
  writeFileSync(file, rows.join(''));
  const out = join(root, 'data-out');
  const exp = (path: string) => experiment({ name: 'data', objectives: [{ id: 'grpo' }], budget: { steps: 1 }, benchmarks: [{ name: 'arith-id', limit: 4 }, { name: 'gsm8k', path }] });
  assert.deepEqual(statuses(await runExperimentFile(exp(file), { outputRoot: out, log: quiet })), [['grpo-s1', 'finished']]);
  const inputs = JSON.parse(readFileSync(join(out, 'data', 'inputs.json'), 'utf8'));
  assert.deepEqual(inputs.benchmarks.map((b: { name: string; problems: number }) => [b.name, b.problems]), [['arith-id', 4], ['gsm8k', 3]]);
  const moved = join(root, 'data-b', 'tiny-gsm8k.jsonl');
  mkdirSync(join(root, 'data-b'));
  cpSync(file, moved);
  assert.deepEqual(statuses(await runExperimentFile(exp(moved), { outputRoot: out, log: quiet })), [['grpo-s1', 'skipped']]);
  writeFileSync(moved, rows.slice(0, 2).join('') + rows[2]!.replace('#### 6', '#### 60'));
  await assert.rejects(runExperimentFile(exp(moved), { outputRoot: out, log: quiet }), /benchmarks\[1\] \(gsm8k\): its problems differ from those this experiment was evaluated on \(3 problems, sha256 [0-9a-f]{12}…; now 3, [0-9a-f]{12}…\); run with --fresh/);
});
