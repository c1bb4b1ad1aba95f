// Slurm: a sweep as three sbatch scripts chained by dependencies, written ready to submit:
//   sft.sbatch     the SFT warm start and its evaluation rows (`rlbench run exp --sft-only`);
//   runs.sbatch    the run array, one task per run (`--array=0-(n-1)%M`, `--index $SLURM_ARRAY_TASK_ID`),
//                  submitted with --dependency=afterok:<sft>; `--wait`: a task requeued after
//                  its node was lost waits until the lost holder's lock is stale and takes the
//                  run over (instead of skipping it), a duplicate waits for the first to finish;
//   report.sbatch  summary.csv, curves.csv and the report (`--report-only`), afterany:<array>;
//   submit.sh      submits the three with `sbatch --parsable`, chaining the job ids.
// Logs go to results/<experiment>/slurm/; slurm.json there records where the scripts are and the
// job ids of the last submission, for `rlbench status`.
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../util/errors.ts';
import { writeFileAtomic, writeJsonAtomic } from '../util/fs.ts';
import type { Experiment } from '../runs/experiment.ts';
import type { SweepRun } from '../runs/sweep.ts';
import type { RunStatus } from '../runs/sweep-status.ts';

export interface SlurmOptions {
  partition?: string;
  gpusPerTask?: number;
  cpusPerTask?: number;
  /** Slurm time limit per job, e.g. "4:00:00" or "1-12:00:00". */
  time?: string;
  /** At most this many array tasks at once (the %M of --array). */
  maxParallel?: number;
  /** Where the scripts go (default: the log folder results/<experiment>/slurm/). */
  outDir?: string;
  /** Extra #SBATCH options for every job, e.g. "--account=abc" or "--mem=32G". */
  sbatch?: string[];
  /** Shell lines run before rlbench in every job, e.g. "module load cuda/12". */
  setup?: string[];
}

export interface SlurmPlan {
  experiment: string;
  /** results/<experiment>/slurm/, absolute: logs and slurm.json. */
  logDir: string;
  scripts: { sft: string; runs: string; report: string; submit: string };
  runs: number;
  array: string;
  cpusPerTask: number;
  notes: string[];
}

export interface SlurmRecord {
  scripts: SlurmPlan['scripts'];
  runs: number;
  /** The run array's job name: squeue finds its tasks by it, resubmissions included. */
  arrayName: string;
  jobs?: { sft: string; runs: string; report: string; submittedAt: string };
}

const RLBENCH_BIN = fileURLToPath(new URL('../../bin/rlbench.js', import.meta.url));

/** Single-quotes a word for bash. */
export function shq(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

const TIME = /^(\d+-)?\d+(:\d{1,2}){0,2}$/;

function checkOptions(o: SlurmOptions): void {
  const posInt = (v: number | undefined, flag: string) => {
    if (v !== undefined && !(Number.isInteger(v) && v > 0)) throw new UsageError(`${flag}: must be a positive integer, got ${v}`);
  };
  posInt(o.cpusPerTask, '--cpus-per-task');
  posInt(o.maxParallel, '--max-parallel');
  if (o.gpusPerTask !== undefined && !(Number.isInteger(o.gpusPerTask) && o.gpusPerTask >= 0)) throw new UsageError(`--gpus-per-task: must be a non-negative integer, got ${o.gpusPerTask}`);
  if (o.time !== undefined && !TIME.test(o.time)) throw new UsageError(`--time ${JSON.stringify(o.time)}: not a Slurm time (minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS)`);
  if (o.partition !== undefined && !/^[A-Za-z0-9_.,-]+$/.test(o.partition)) throw new UsageError(`--partition ${JSON.stringify(o.partition)}: not a partition name`);
  for (const a of o.sbatch ?? []) if (!a.startsWith('--') || /[\n\r]/.test(a)) throw new UsageError(`--sbatch ${JSON.stringify(a)}: give one long sbatch option, e.g. --sbatch=--mem=32G`);
  for (const l of o.setup ?? []) if (/[\n\r]/.test(l)) throw new UsageError('--setup: one shell line per option');
}

function script(lines: { comment: string; name: string; log: string; cwd: string; cpus: number; gpus: number; o: SlurmOptions; extra: string[]; body: string }): string {
  const { o } = lines;
  const sb = [
    `--job-name=${lines.name}`,
    `--output=${lines.log}`,
    `--chdir=${lines.cwd}`,
    '--ntasks=1',
    `--cpus-per-task=${lines.cpus}`,
    ...(lines.gpus > 0 ? [`--gpus-per-task=${lines.gpus}`] : []),
    ...(o.partition ? [`--partition=${o.partition}`] : []),
    ...(o.time ? [`--time=${o.time}`] : []),
    ...lines.extra,
    ...(o.sbatch ?? []),
  ];
  return [
    '#!/bin/bash',
    ...lines.comment.split('\n').map((l) => `# ${l}`),
    ...sb.map((a) => `#SBATCH ${a}`),
    'set -euo pipefail',
    ...(o.setup ?? []),
    '# A run with execution.threads 0 uses the CPUs Slurm gave this task.',
    `export RLBENCH_THREADS="\${SLURM_CPUS_PER_TASK:-${lines.cpus}}"`,
    lines.body,
    '',
  ].join('\n');
}

/** Writes sft.sbatch, runs.sbatch, report.sbatch and submit.sh for an experiment file. */
export function writeSlurmScripts(expPath: string, exp: Experiment, runs: readonly SweepRun[], o: SlurmOptions = {}): SlurmPlan {
  checkOptions(o);
  const n = runs.length;
  if (n === 0) throw new UsageError(`${expPath}: the experiment has no runs`);
  const cwd = process.cwd();
  const logDir = resolve(exp.output, exp.name, 'slurm');
  const outDir = resolve(o.outDir ?? logDir);
  const exe = `${shq(process.execPath)} ${shq(RLBENCH_BIN)} run ${shq(resolve(expPath))}`;
  const notes: string[] = [];
  const fixed = exp.execution.threads;
  const cpus = o.cpusPerTask ?? (fixed > 0 ? fixed : 4);
  if (fixed > 0 && o.cpusPerTask !== undefined && o.cpusPerTask < fixed) {
    notes.push(`execution.threads is ${fixed} but --cpus-per-task is ${o.cpusPerTask}: each run still uses ${fixed} threads (kept fixed so numbers stay comparable), more than its CPUs`);
  }
  if (fixed === 0) notes.push(`execution.threads is 0: each job uses the ${cpus} CPUs it is given (SLURM_CPUS_PER_TASK)`);
  const gpus = o.gpusPerTask ?? 0;
  if (gpus > 0 && exp.execution.provider === 'cpu') notes.push(`--gpus-per-task ${gpus} with execution.provider "cpu": the GPUs would sit idle; set execution.provider to "cuda"`);
  const array = `0-${n - 1}${o.maxParallel ? `%${o.maxParallel}` : ''}`;
  const tag = `rlbench-${exp.name}`;
  const scripts = { sft: join(outDir, 'sft.sbatch'), runs: join(outDir, 'runs.sbatch'), report: join(outDir, 'report.sbatch'), submit: join(outDir, 'submit.sh') };
  const head = `rlbench sweep "${exp.name}" (${n} runs) from ${resolve(expPath)}.\nGenerated by \`rlbench slurm\`; submit.sh submits all three jobs in order.`;

  writeFileAtomic(scripts.sft, script({ comment: `${head}\nJob 1: the SFT warm start and its evaluation rows, trained once for the whole sweep.`, name: `${tag}-sft`, log: join(logDir, 'sft-%j.out'), cwd, cpus, gpus, o, extra: [], body: `exec ${exe} --sft-only` }));
  writeFileAtomic(
    scripts.runs,
    script({
      comment: `${head}\nJob 2: the run array, task I trains run I (\`rlbench run ${expPath} --list\`), after the SFT job succeeded.\nResubmit some runs by index (they resume from their checkpoints): sbatch --array=3,5 ${scripts.runs}\nStart failed runs over instead: sbatch --array=3,5 --export=ALL,RLBENCH_FRESH=1 ${scripts.runs}`,
      name: tag,
      log: join(logDir, 'run-%A_%a.out'),
      cwd,
      cpus,
      gpus,
      o,
      extra: [`--array=${array}`, '--kill-on-invalid-dep=yes'],
      body: `exec ${exe} --index "$SLURM_ARRAY_TASK_ID" --wait \${RLBENCH_FRESH:+--fresh}`,
    }),
  );
  writeFileAtomic(
    scripts.report,
    script({ comment: `${head}\nJob 3: summary.csv, curves.csv and the report, once the run array has ended (whatever its outcome).`, name: `${tag}-report`, log: join(logDir, 'report-%j.out'), cwd, cpus: 1, gpus: 0, o, extra: ['--kill-on-invalid-dep=yes'], body: `exec ${exe} --report-only` }),
  );
  writeFileAtomic(
    scripts.submit,
    [
      '#!/bin/bash',
      `# Submits the sweep "${exp.name}": SFT, then the run array once the SFT succeeded, then the report.`,
      'set -euo pipefail',
      `sft=$(sbatch --parsable ${shq(scripts.sft)}); sft=\${sft%%;*}`,
      `runs=$(sbatch --parsable --dependency=afterok:$sft ${shq(scripts.runs)}); runs=\${runs%%;*}`,
      `report=$(sbatch --parsable --dependency=afterany:$runs ${shq(scripts.report)}); report=\${report%%;*}`,
      `echo "submitted: SFT job $sft, run array $runs (${n} tasks), report job $report; logs in ${logDir}"`,
      '',
    ].join('\n'),
  );
  chmodSync(scripts.submit, 0o755);
  const record: SlurmRecord = { scripts, runs: n, arrayName: tag };
  writeJsonAtomic(join(logDir, 'slurm.json'), { ...readRecord(logDir), ...record });
  return { experiment: exp.name, logDir, scripts, runs: n, array, cpusPerTask: cpus, notes };
}

function readRecord(logDir: string): SlurmRecord | null {
  const p = join(logDir, 'slurm.json');
  if (!existsSync(p)) return null;
  try {
    return JSON.parse(readFileSync(p, 'utf8')) as SlurmRecord;
  } catch {
    return null;
  }
}

function sbatch(args: string[], sbatchBin: string): string {
  try {
    const out = execFileSync(sbatchBin, ['--parsable', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const id = out.trim().split(';')[0]!;
    if (!/^\d+$/.test(id)) throw new Error(`unexpected output ${JSON.stringify(out.trim())}`);
    return id;
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: string };
    if (err.code === 'ENOENT') throw new UsageError(`${sbatchBin}: not found; is this a Slurm login node? (the scripts are written; submit them later with submit.sh)`);
    throw new UsageError(`sbatch ${args.join(' ')} failed: ${(err.stderr ?? err.message).trim()}`);
  }
}

/** Submits the plan's three jobs, chained by dependencies; records their ids in slurm.json. */
export function submitSlurm(plan: SlurmPlan, sbatchBin = 'sbatch'): { sft: string; runs: string; report: string } {
  const sft = sbatch([plan.scripts.sft], sbatchBin);
  const runs = sbatch([`--dependency=afterok:${sft}`, plan.scripts.runs], sbatchBin);
  const report = sbatch([`--dependency=afterany:${runs}`, plan.scripts.report], sbatchBin);
  const jobs = { sft, runs, report, submittedAt: new Date().toISOString() };
  writeJsonAtomic(join(plan.logDir, 'slurm.json'), { ...readRecord(plan.logDir), jobs });
  return jobs;
}

/** The last non-empty line of the newest log of array task `index`, if any. */
function lastLogLine(logDir: string, index: number): string | null {
  if (!existsSync(logDir)) return null;
  const logs = readdirSync(logDir)
    .filter((f) => f.startsWith('run-') && f.endsWith(`_${index}.out`))
    .map((f) => ({ f, t: statSync(join(logDir, f)).mtimeMs }))
    .sort((a, b) => b.t - a.t);
  if (!logs.length) return null;
  const lines = readFileSync(join(logDir, logs[0]!.f), 'utf8').split('\n').map((l) => l.trim()).filter(Boolean);
  const last = lines[lines.length - 1];
  return last ? `${logs[0]!.f}: ${last.length > 200 ? last.slice(0, 200) + '…' : last}` : null;
}

/**
 * Array indexes of the sweep's run arrays still pending or running, found by job name so that
 * resubmissions count too; null when squeue cannot tell (not a Slurm machine, controller down).
 */
function queuedIndexes(arrayName: string): Set<number> | null {
  try {
    const out = execFileSync('squeue', ['-h', '-r', '-n', arrayName, '-t', 'PENDING,RUNNING,CONFIGURING,COMPLETING,SUSPENDED,REQUEUED', '-o', '%K'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 });
    return new Set(out.split('\n').map((l) => l.trim()).filter((l) => /^\d+$/.test(l)).map(Number));
  } catch {
    return null;
  }
}

export interface SlurmAdvice {
  /** Run indexes with a task pending or running in Slurm (null: squeue could not tell). */
  queued: number[] | null;
  /** Per run index: the tail of its Slurm log (why an interrupted run stopped). */
  logs: Map<number, string>;
  /** Runs to resubmit (interrupted, or pending with no queued task), and the command. */
  resubmit: { indexes: number[]; command: string } | null;
  /** Failed and damaged runs: a resubmission skips them; this starts them over. */
  restart: { indexes: number[]; command: string } | null;
  jobs: SlurmRecord['jobs'] | null;
}

/** What Slurm adds to `rlbench status`: log tails, and the commands that resume a partly failed sweep. */
export function slurmAdvice(expDir: string, runs: readonly RunStatus[]): SlurmAdvice | null {
  const logDir = join(expDir, 'slurm');
  const rec = readRecord(logDir);
  if (!rec) return null;
  const logs = new Map<number, string>();
  for (const r of runs) {
    if (r.state !== 'interrupted' && r.state !== 'failed') continue;
    const l = lastLogLine(logDir, r.index);
    if (l) logs.set(r.index, l);
  }
  // Interrupted runs are resubmitted unless queued again; pending ones only when squeue shows
  // that no task of the sweep will start them.
  const queued = rec.jobs ? queuedIndexes(rec.arrayName) : null;
  const again = runs.filter((r) => (r.state === 'interrupted' && !queued?.has(r.index)) || (r.state === 'pending' && queued !== null && !queued.has(r.index))).map((r) => r.index);
  const failed = runs.filter((r) => r.state === 'failed' || r.state === 'damaged').map((r) => r.index);
  const runsScript = shq(rec.scripts.runs);
  const reportScript = shq(rec.scripts.report);
  const chain = (arrayArgs: string) => `jid=$(sbatch --parsable ${arrayArgs} ${runsScript}) && sbatch --dependency=afterany:\${jid%%;*} ${reportScript}`;
  return {
    queued: queued ? [...queued].sort((a, b) => a - b) : null,
    logs,
    resubmit: again.length ? { indexes: again, command: chain(`--array=${again.join(',')}`) } : null,
    restart: failed.length ? { indexes: failed, command: chain(`--array=${failed.join(',')} --export=ALL,RLBENCH_FRESH=1`) } : null,
    jobs: rec.jobs ?? null,
  };
}
