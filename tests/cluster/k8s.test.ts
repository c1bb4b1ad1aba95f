// Kubernetes manifests, checked against the vendored batch/v1 Job schema (harness/cluster/schema/,
// derived from the Kubernetes OpenAPI spec): the Indexed Job has one completion per run, the SFT
// and report Jobs run the right commands, the YAML parses back to the validated objects, and the
// schema itself rejects what a real API server would (misspelt fields, wrong types).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { jobBaseName, jobSchemaErrors, k8sJobs, writeK8sManifests } from '../../harness/cluster/k8s.ts';
import { validateExperiment, type Experiment } from '../../harness/runs/experiment.ts';
import { runList } from '../../harness/runs/sweep.ts';

const root = mkdtempSync(join(tmpdir(), 'rlbench-k8s-'));

function experiment(over: Record<string, unknown> = {}): Experiment {
  return validateExperiment({ name: 'Paper_Suite', objectives: [{ id: 'grpo' }, { id: 'rence' }, { id: 'dapo' }], seeds: [1, 2, 3], execution: { threads: 0 }, ...over }, 'test');
}
const exp = experiment();
const runs = runList(exp, [{ name: 'grpo' }, { name: 'rence' }, { name: 'dapo' }]);

test('the run Job is an Indexed Job with one completion per run, valid against the batch/v1 Job schema', () => {
  const plan = k8sJobs('benchmarks/paper.json', exp, runs, { image: 'registry.example.org/rlbench:1.0', pvc: 'rlbench-results', parallelism: 4, cpu: '4', memory: '16Gi', gpus: 1 });
  for (const j of Object.values(plan.jobs)) assert.deepEqual(jobSchemaErrors(j), []);
  const spec = plan.jobs.runs.spec!;
  assert.equal(spec.completionMode, 'Indexed');
  assert.equal(spec.completions, 9);
  assert.equal(spec.parallelism, 4);
  assert.equal(spec.backoffLimitPerIndex, 2);
  const pod = spec.template.spec!;
  assert.equal(pod.restartPolicy, 'Never', 'backoffLimitPerIndex needs restartPolicy Never');
  const c = pod.containers[0]!;
  // No --index: rlbench reads JOB_COMPLETION_INDEX, which the Job controller sets per pod;
  // --wait: a retried index takes its run over once a lost pod's lock is stale.
  assert.deepEqual([c.command, c.args, c.workingDir], [['node', 'bin/rlbench.js'], ['run', 'benchmarks/paper.json', '--wait'], '/app']);
  assert.deepEqual(c.resources, { requests: { cpu: '4', memory: '16Gi' }, limits: { memory: '16Gi', 'nvidia.com/gpu': '1' } });
  assert.deepEqual(c.env, [{ name: 'RLBENCH_THREADS', value: '4' }]);
  // The results (and the SFT cache, <output>/.cache) are on the claim, where `output` points in the image.
  assert.deepEqual(c.volumeMounts, [{ name: 'results', mountPath: '/app/results' }]);
  assert.deepEqual(pod.volumes, [{ name: 'results', persistentVolumeClaim: { claimName: 'rlbench-results' } }]);
  assert.deepEqual(plan.jobs.sft.spec!.template.spec!.containers[0]!.args, ['run', 'benchmarks/paper.json', '--sft-only']);
  assert.deepEqual(plan.jobs.report.spec!.template.spec!.containers[0]!.args, ['run', 'benchmarks/paper.json', '--report-only']);
  assert.equal(plan.jobs.report.spec!.template.spec!.containers[0]!.resources, undefined, 'the report needs no GPU');
  assert.deepEqual(plan.names, { sft: 'rlbench-paper-suite-sft', runs: 'rlbench-paper-suite-runs', report: 'rlbench-paper-suite-report' });
  // An absolute output is mounted as is; parallelism never exceeds the runs.
  const abs = k8sJobs('benchmarks/paper.json', experiment({ output: '/data/rl' }), runs, { image: 'img', pvc: 'pvc', parallelism: 50 });
  assert.equal(abs.mountPath, '/data/rl');
  assert.equal(abs.jobs.runs.spec!.parallelism, 9);
});

test('the written YAML parses back to the validated Jobs; apply.sh applies them in order and is valid bash', () => {
  const outDir = join(root, 'k8s');
  const plan = writeK8sManifests('benchmarks/paper.json', exp, runs, { image: 'img:1', pvc: 'pvc-a', namespace: 'ml', outDir });
  for (const which of ['sft', 'runs', 'report'] as const) {
    const text = readFileSync(plan.files[which], 'utf8');
    assert.doesNotMatch(text, /[&*]a\d/, 'no YAML anchors or aliases');
    const back = parse(text);
    assert.deepEqual(back, plan.jobs[which]);
    assert.deepEqual(jobSchemaErrors(back), []);
    assert.equal(back.metadata?.namespace, 'ml');
  }
  const apply = readFileSync(plan.files.apply, 'utf8');
  const order = ['apply -f sft.yaml', 'wait_job rlbench-paper-suite-sft', 'apply -f runs.yaml', 'wait_job rlbench-paper-suite-runs', 'apply -f report.yaml'].map((s) => apply.indexOf(s));
  assert.ok(order.every((i, k) => i > 0 && (k === 0 || i > order[k - 1]!)), apply);
  assert.match(apply, /kubectl -n ml apply/);
  assert.equal(spawnSync('bash', ['-n', plan.files.apply]).status, 0);
});

test('the vendored schema rejects what the API server would: unknown fields, wrong types, missing containers', () => {
  const { jobs } = k8sJobs('benchmarks/paper.json', exp, runs, { image: 'img', pvc: 'pvc' });
  const good = jobs.runs as unknown as Record<string, any>;
  const variant = (edit: (j: Record<string, any>) => void) => {
    const j = structuredClone(good);
    edit(j);
    return jobSchemaErrors(j).join('\n');
  };
  assert.match(variant((j) => (j.spec.completionsMode = 'Indexed')), /\/spec: must NOT have additional properties \(completionsMode\)/);
  assert.match(variant((j) => (j.spec.completions = '9')), /\/spec\/completions: must be integer/);
  assert.match(variant((j) => (j.spec.template.spec.containers = undefined)), /\/spec\/template\/spec: must have required property 'containers'/);
  assert.match(variant((j) => (j.spec.template.spec.containers[0].resources = { limits: { cpu: true } })), /resources\/limits\/cpu/);
  assert.match(variant((j) => (j.kind = 'CronJob')), /\/kind: must be equal to one of the allowed values/);
  assert.match(variant((j) => delete j.spec.template), /\/spec: must have required property 'template'/);
  // Quantities and int-or-string accept both spellings, as the API does.
  assert.equal(variant((j) => (j.spec.template.spec.containers[0].resources = { limits: { cpu: 2, memory: '1Gi' } })), '');
});

test('bad options are refused with the flag named; the experiment must be inside the image\'s project folder', () => {
  const base = { image: 'img', pvc: 'pvc' };
  assert.throws(() => k8sJobs('e.json', exp, runs, { ...base, cpu: 'four' }), /--cpu "four": not a Kubernetes quantity/);
  assert.throws(() => k8sJobs('e.json', exp, runs, { ...base, memory: '16GB' }), /--memory "16GB": not a Kubernetes quantity/);
  assert.throws(() => k8sJobs('e.json', exp, runs, { ...base, pvc: 'My_PVC' }), /--pvc "My_PVC": not a PersistentVolumeClaim name/);
  assert.throws(() => k8sJobs('e.json', exp, runs, { ...base, image: '' }), /--image "": give a container image/);
  assert.throws(() => k8sJobs('e.json', exp, runs, { ...base, parallelism: 0 }), /--parallelism: must be an integer >= 1/);
  assert.throws(() => k8sJobs('/elsewhere/e.json', exp, runs, base), /outside the current folder; .*--experiment-path/);
  assert.deepEqual(k8sJobs('/elsewhere/e.json', exp, runs, { ...base, experimentPath: 'exps/e.json' }).jobs.runs.spec!.template.spec!.containers[0]!.args, ['run', 'exps/e.json', '--wait']);
  assert.equal(jobBaseName('A very long experiment name that goes on and on and on'), 'rlbench-a-very-long-experiment-name-that-goes-on');
});
