// Kubernetes: a sweep as three batch/v1 Jobs, written as YAML:
//   sft.yaml     one pod: the SFT warm start and its evaluation rows (`--sft-only`);
//   runs.yaml    an Indexed Job (completionMode: Indexed, completions = runs, parallelism): the
//                pod with completion index I trains run I (rlbench reads JOB_COMPLETION_INDEX);
//                each index is retried on its own (backoffLimitPerIndex), resuming from its
//                checkpoint; `--wait`: a retry whose predecessor's lock is still there (its node
//                lost) takes the run over once that lock is stale, instead of skipping it;
//   report.yaml  summary.csv, curves.csv and the report (`--report-only`);
//   apply.sh     applies them in that order, waiting for each to end.
// Kubernetes has no dependencies between Jobs, hence apply.sh. Applying runs.yaml before the SFT
// is trained is still safe: every run takes the SFT lock on the shared volume, so the warm start
// is trained by one pod while the others wait, never twice.
//
// The results live on a PersistentVolumeClaim mounted where the experiment's `output` points
// inside the image (default <workdir>/results), so the SFT cache (<output>/.cache) and every
// checkpoint are on it too. The image must hold rlbench at --workdir (npm ci done) and the
// experiment file at the same relative path as here.
//
// YAML because manifests are read and edited by people (tolerations, node selectors); kubectl
// takes JSON as well. Every Job is validated against the vendored batch/v1 Job schema
// (schema/job-batch-v1.json) before it is written.
import { readFileSync, chmodSync } from 'node:fs';
import { isAbsolute, join, posix, relative, resolve, sep } from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import { stringify } from 'yaml';
import type { Job } from 'kubernetes-types/batch/v1.js';
import type { Container, PodSpec } from 'kubernetes-types/core/v1.js';
import { UsageError } from '../util/errors.ts';
import { writeFileAtomic } from '../util/fs.ts';
import type { Experiment } from '../runs/experiment.ts';
import type { SweepRun } from '../runs/sweep.ts';

export interface K8sOptions {
  image: string;
  pvc: string;
  /** Pods of the run Job at once (default: all runs). */
  parallelism?: number;
  /** Per pod, Kubernetes quantities: "4", "500m", "16Gi". */
  cpu?: string;
  memory?: string;
  gpus?: number;
  /** Extended resource name of a GPU (default nvidia.com/gpu). */
  gpuResource?: string;
  /** rlbench's folder in the image (default /app). */
  workdir?: string;
  /** The experiment file inside the image, relative to workdir (default: its path relative to here). */
  experimentPath?: string;
  namespace?: string;
  /** Retries per run index before it counts as failed (default 2). */
  retries?: number;
  /** Where the manifests go (default results/<experiment>/k8s/). */
  outDir?: string;
}

export interface K8sPlan {
  jobs: { sft: Job; runs: Job; report: Job };
  files: { sft: string; runs: string; report: string; apply: string };
  mountPath: string;
  names: { sft: string; runs: string; report: string };
}

// No anchors and aliases: the labels repeated in the pod template stay plain, as people write them.
const YAML_OPTS = { aliasDuplicateObjects: false } as const;

// Compiled on first use: `rlbench status` and `slurm` load this module's command group too.
let validateJob: ValidateFunction | null = null;

/** ajv's errors for a Job against the batch/v1 schema, as "path: message" lines (empty when valid). */
export function jobSchemaErrors(job: unknown): string[] {
  if (!validateJob) {
    const schema = JSON.parse(readFileSync(new URL('./schema/job-batch-v1.json', import.meta.url), 'utf8')) as Record<string, unknown>;
    // Formats (int32, date-time, …) are annotations here: the schema's types and fields are what we check.
    validateJob = new Ajv({ allErrors: true, strict: false, validateFormats: false }).compile(schema);
  }
  if (validateJob(job)) return [];
  return (validateJob.errors ?? []).map((e) => `${e.instancePath || '(root)'}: ${e.message}${e.params && 'additionalProperty' in e.params ? ` (${String(e.params.additionalProperty)})` : ''}`);
}

// Kubernetes' quantity grammar: a signed decimal with an optional binary or decimal SI suffix or exponent.
const QUANTITY = /^[+]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+|[KMGTPE]i|[mkMGTPE])?$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** A Job name from the experiment name: lower-case DNS label, short enough for pod names. */
export function jobBaseName(experiment: string): string {
  let s = experiment.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '');
  if (!s) s = 'sweep';
  // Pod hostnames of an Indexed Job are <job>-<index>: keep the whole name well under 63.
  if (s.length > 40) s = s.slice(0, 40).replace(/-+$/, '');
  return `rlbench-${s}`;
}

function checkOptions(o: K8sOptions): void {
  if (!o.image || /\s/.test(o.image)) throw new UsageError(`--image ${JSON.stringify(o.image ?? '')}: give a container image, e.g. registry.example.org/rlbench:1.0`);
  if (!o.pvc || !DNS_SUBDOMAIN.test(o.pvc) || o.pvc.length > 253) throw new UsageError(`--pvc ${JSON.stringify(o.pvc ?? '')}: not a PersistentVolumeClaim name (lower-case letters, digits, '-' and '.')`);
  for (const [flag, v] of [['--cpu', o.cpu], ['--memory', o.memory]] as const) {
    if (v !== undefined && !QUANTITY.test(v)) throw new UsageError(`${flag} ${JSON.stringify(v)}: not a Kubernetes quantity (e.g. 4, 500m, 16Gi)`);
  }
  const posInt = (v: number | undefined, flag: string, min: number) => {
    if (v !== undefined && !(Number.isInteger(v) && v >= min)) throw new UsageError(`${flag}: must be an integer >= ${min}, got ${v}`);
  };
  posInt(o.parallelism, '--parallelism', 1);
  posInt(o.gpus, '--gpus', 0);
  posInt(o.retries, '--retries', 0);
  if (o.namespace !== undefined && !DNS_LABEL.test(o.namespace)) throw new UsageError(`--namespace ${JSON.stringify(o.namespace)}: not a namespace name`);
  if (o.gpuResource !== undefined && !/^[a-z0-9.-]+\/[a-z0-9.-]+$/.test(o.gpuResource)) throw new UsageError(`--gpu-resource ${JSON.stringify(o.gpuResource)}: not an extended resource name (e.g. nvidia.com/gpu)`);
  if (o.workdir !== undefined && !posix.isAbsolute(o.workdir)) throw new UsageError(`--workdir ${JSON.stringify(o.workdir)}: must be an absolute path in the image`);
}

/** Whole CPUs from a quantity ("4" → 4, "2500m" → 2, "0.5" → 1): the run's thread count. */
function wholeCpus(q: string): number {
  const m = /^([0-9.]+)(m?)$/.exec(q);
  if (!m) return 0;
  const v = Number(m[1]) / (m[2] ? 1000 : 1);
  return Math.max(1, Math.floor(v));
}

/** The three Jobs of a sweep (not written). */
export function k8sJobs(expPath: string, exp: Experiment, runs: readonly SweepRun[], o: K8sOptions): Omit<K8sPlan, 'files'> {
  checkOptions(o);
  const n = runs.length;
  if (n === 0) throw new UsageError(`${expPath}: the experiment has no runs`);
  const workdir = o.workdir ?? '/app';
  let expInImage = o.experimentPath;
  if (expInImage === undefined) {
    const rel = relative(process.cwd(), resolve(expPath));
    if (rel.startsWith('..') || isAbsolute(rel)) {
      throw new UsageError(`${expPath}: outside the current folder; run \`rlbench k8s\` from the project folder the image holds at ${workdir}, or give --experiment-path <its path in the image>`);
    }
    expInImage = rel.split(sep).join('/');
  }
  const mountPath = posix.isAbsolute(exp.output) ? exp.output : posix.join(workdir, exp.output);
  const base = jobBaseName(exp.name);
  const names = { sft: `${base}-sft`, runs: `${base}-runs`, report: `${base}-report` };
  const labels = { 'app.kubernetes.io/name': 'rlbench', 'app.kubernetes.io/component': 'sweep', 'rlbench/experiment': base.slice('rlbench-'.length) };

  const resources: Container['resources'] = {};
  const requests: Record<string, string> = {};
  const limits: Record<string, string> = {};
  if (o.cpu) requests.cpu = o.cpu;
  if (o.memory) {
    requests.memory = o.memory;
    limits.memory = o.memory;
  }
  if (o.gpus) limits[o.gpuResource ?? 'nvidia.com/gpu'] = String(o.gpus);
  if (Object.keys(requests).length) resources.requests = requests;
  if (Object.keys(limits).length) resources.limits = limits;

  const pod = (args: string[], withResources: boolean): PodSpec => ({
    restartPolicy: 'Never',
    containers: [
      {
        name: 'rlbench',
        image: o.image,
        workingDir: workdir,
        command: ['node', 'bin/rlbench.js'],
        args: ['run', expInImage!, ...args],
        // A run with execution.threads 0 uses the CPUs the pod asked for.
        env: o.cpu ? [{ name: 'RLBENCH_THREADS', value: String(wholeCpus(o.cpu)) }] : [],
        ...(withResources && Object.keys(resources).length ? { resources } : {}),
        volumeMounts: [{ name: 'results', mountPath }],
      },
    ],
    volumes: [{ name: 'results', persistentVolumeClaim: { claimName: o.pvc } }],
  });
  const meta = (name: string) => ({ name, ...(o.namespace ? { namespace: o.namespace } : {}), labels });
  const job = (name: string, spec: Job['spec']): Job => ({ apiVersion: 'batch/v1', kind: 'Job', metadata: meta(name), spec });

  const jobs = {
    sft: job(names.sft, { backoffLimit: o.retries ?? 2, template: { metadata: { labels }, spec: pod(['--sft-only'], true) } }),
    runs: job(names.runs, {
      completionMode: 'Indexed',
      completions: n,
      parallelism: Math.min(o.parallelism ?? n, n),
      backoffLimitPerIndex: o.retries ?? 2,
      template: { metadata: { labels }, spec: pod(['--wait'], true) },
    }),
    report: job(names.report, { backoffLimit: 1, template: { metadata: { labels }, spec: pod(['--report-only'], false) } }),
  };
  for (const [which, j] of Object.entries(jobs)) {
    const errs = jobSchemaErrors(j);
    if (errs.length) throw new Error(`internal error: the ${which} Job does not match the batch/v1 Job schema:\n  ${errs.join('\n  ')}`);
  }
  return { jobs, mountPath, names };
}

/** Writes sft.yaml, runs.yaml, report.yaml and apply.sh. */
export function writeK8sManifests(expPath: string, exp: Experiment, runs: readonly SweepRun[], o: K8sOptions): K8sPlan {
  const plan = k8sJobs(expPath, exp, runs, o);
  const outDir = resolve(o.outDir ?? join(exp.output, exp.name, 'k8s'));
  const files = { sft: join(outDir, 'sft.yaml'), runs: join(outDir, 'runs.yaml'), report: join(outDir, 'report.yaml'), apply: join(outDir, 'apply.sh') };
  const header = (what: string) => `# rlbench sweep "${exp.name}" (${runs.length} runs): ${what}\n# Generated by \`rlbench k8s\`; apply.sh applies sft.yaml, runs.yaml and report.yaml in order.\n`;
  writeFileAtomic(files.sft, header('the SFT warm start, trained once') + stringify(plan.jobs.sft, YAML_OPTS));
  writeFileAtomic(files.runs, header(`the runs, completion index I trains run I (\`rlbench run ${expPath} --list\`)`) + stringify(plan.jobs.runs, YAML_OPTS));
  writeFileAtomic(files.report, header('summary.csv, curves.csv and the report') + stringify(plan.jobs.report, YAML_OPTS));
  const ns = o.namespace ? ` -n ${o.namespace}` : '';
  writeFileAtomic(
    files.apply,
    [
      '#!/bin/bash',
      `# Runs the sweep "${exp.name}" on Kubernetes: the SFT Job, then the run Job, then the report Job.`,
      'set -euo pipefail',
      'cd "$(dirname "$0")"',
      '# Waits until a Job is Complete (returns 0) or Failed (returns 1).',
      'wait_job() {',
      '  while :; do',
      `    c=$(kubectl${ns} get job "$1" -o jsonpath='{range .status.conditions[?(@.status=="True")]}{.type} {end}')`,
      '    case "$c" in *Complete*) return 0 ;; *Failed*) return 1 ;; esac',
      '    sleep 20',
      '  done',
      '}',
      `kubectl${ns} apply -f sft.yaml`,
      `wait_job ${plan.names.sft} || { echo "the SFT Job failed: kubectl${ns} logs job/${plan.names.sft}" >&2; exit 1; }`,
      `kubectl${ns} apply -f runs.yaml`,
      `wait_job ${plan.names.runs} || echo "some runs failed; the report shows the others (rlbench status <results>/${exp.name})" >&2`,
      `kubectl${ns} apply -f report.yaml`,
      `wait_job ${plan.names.report}`,
      '',
    ].join('\n'),
  );
  chmodSync(files.apply, 0o755);
  return { ...plan, files };
}
