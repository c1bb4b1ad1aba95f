// `rlbench slurm`, `rlbench k8s` and `rlbench status`: fan a sweep out on the schedulers users
// already have (harness/cluster/), and follow it from the shared results folder.
import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import { UsageError } from '../util/errors.ts';
import { loadExperiment } from '../runs/experiment.ts';
import { runList, writeSweepFile } from '../runs/sweep.ts';
import { describeHolderInfo, fmtDuration, sweepStatus, type RunStatus } from '../runs/sweep-status.ts';
import { slurmAdvice, submitSlurm, writeSlurmScripts } from '../cluster/slurm.ts';

function int(flag: string) {
  return (v: string): number => {
    if (!/^\d+$/.test(v)) throw new UsageError(`${flag}: expected a non-negative integer, got ${JSON.stringify(v)}`);
    return Number(v);
  };
}

const collect = (v: string, acc: string[]) => [...acc, v];

function shown(p: string): string {
  const r = relative(process.cwd(), p);
  return r && !r.startsWith('..') ? r : p;
}

async function loadSweep(path: string) {
  if (!existsSync(path)) throw new UsageError(`experiment file not found: ${path}`);
  const { experiment, objectives } = await loadExperiment(path);
  const runs = runList(experiment, objectives);
  writeSweepFile(join(experiment.output, experiment.name), experiment.name, runs);
  return { experiment, runs };
}

function where(r: RunStatus): string {
  if (r.state === 'running' && r.holder) return describeHolderInfo(r.holder);
  if (r.state === 'interrupted') return `resumes from step ${r.checkpointStep ?? 0}; ${r.why}`;
  return r.why ?? '';
}

export function registerClusterCommands(program: Command): void {
  program
    .command('slurm')
    .description('write sbatch scripts for a sweep (SFT job, run array, report job) under results/<experiment>/slurm/, or submit them')
    .argument('<experiment>', 'experiment JSON file')
    .option('--partition <p>', 'Slurm partition')
    .option('--gpus-per-task <n>', 'GPUs per job', int('--gpus-per-task'))
    .option('--cpus-per-task <n>', 'CPUs per job (default: execution.threads when fixed, else 4); runs use that many threads', int('--cpus-per-task'))
    .option('--time <t>', 'time limit per job, e.g. 4:00:00')
    .option('--max-parallel <m>', 'at most M array tasks at once (--array=0-(n-1)%M)', int('--max-parallel'))
    .option('--sbatch <option>', 'extra sbatch option for every job, e.g. --sbatch=--mem=32G (repeatable)', collect, [])
    .option('--setup <line>', 'shell line run before rlbench in every job, e.g. "module load cuda" (repeatable)', collect, [])
    .option('--out <dir>', 'where the scripts go (default: results/<experiment>/slurm/)')
    .option('--submit', 'submit the three jobs with sbatch, chained by dependencies')
    .action(async (path: string, o: { partition?: string; gpusPerTask?: number; cpusPerTask?: number; time?: string; maxParallel?: number; sbatch: string[]; setup: string[]; out?: string; submit?: boolean }) => {
      const { experiment, runs } = await loadSweep(path);
      const plan = writeSlurmScripts(path, experiment, runs, { partition: o.partition, gpusPerTask: o.gpusPerTask, cpusPerTask: o.cpusPerTask, time: o.time, maxParallel: o.maxParallel, sbatch: o.sbatch, setup: o.setup, outDir: o.out });
      process.stdout.write(`${experiment.name}: ${plan.runs} runs, array ${plan.array}, ${plan.cpusPerTask} CPUs per job\n`);
      for (const [k, f] of Object.entries(plan.scripts)) process.stdout.write(`  ${k.padEnd(7)} ${shown(f)}\n`);
      process.stdout.write(`logs: ${shown(plan.logDir)}\n`);
      for (const n of plan.notes) process.stdout.write(`note: ${n}\n`);
      if (!o.submit) {
        process.stdout.write(`submit with: bash ${shown(plan.scripts.submit)}   (or rerun with --submit)\n`);
        return;
      }
      const jobs = submitSlurm(plan);
      process.stdout.write(`submitted: SFT job ${jobs.sft}, run array ${jobs.runs}, report job ${jobs.report}\n`);
      process.stdout.write(`follow it with: rlbench status ${shown(join(experiment.output, experiment.name))}\n`);
    });

  program
    .command('k8s')
    .description('write Kubernetes Job manifests for a sweep (SFT Job, Indexed run Job, report Job) and apply.sh')
    .argument('<experiment>', 'experiment JSON file (at the same path, relative to --workdir, in the image)')
    .requiredOption('--image <image>', 'container image holding rlbench at --workdir')
    .requiredOption('--pvc <name>', 'PersistentVolumeClaim for the results (ReadWriteMany when pods share nodes or not)')
    .option('--parallelism <n>', 'run pods at once (default: every run)', int('--parallelism'))
    .option('--cpu <q>', 'CPU request per pod, e.g. 4 (runs with execution.threads 0 use that many threads)')
    .option('--memory <q>', 'memory request and limit per pod, e.g. 16Gi')
    .option('--gpus <n>', 'GPUs per pod', int('--gpus'))
    .option('--gpu-resource <name>', 'GPU resource name', 'nvidia.com/gpu')
    .option('--workdir <dir>', 'rlbench\'s folder in the image', '/app')
    .option('--experiment-path <path>', 'the experiment file in the image, relative to --workdir (default: its path relative to here)')
    .option('--namespace <ns>', 'namespace of the Jobs')
    .option('--retries <n>', 'retries per run before it counts as failed', int('--retries'), 2)
    .option('--out <dir>', 'where the manifests go (default: results/<experiment>/k8s/)')
    .action(async (path: string, o: { image: string; pvc: string; parallelism?: number; cpu?: string; memory?: string; gpus?: number; gpuResource: string; workdir: string; experimentPath?: string; namespace?: string; retries: number; out?: string }) => {
      const { experiment, runs } = await loadSweep(path);
      const { writeK8sManifests } = await import('../cluster/k8s.ts'); // YAML and the Job schema: only here
      const plan = writeK8sManifests(path, experiment, runs, { ...o, outDir: o.out });
      process.stdout.write(`${experiment.name}: ${runs.length} runs, Indexed Job ${plan.names.runs} (parallelism ${plan.jobs.runs.spec!.parallelism})\n`);
      for (const [k, f] of Object.entries(plan.files)) process.stdout.write(`  ${k.padEnd(7)} ${shown(f)}\n`);
      process.stdout.write(`results: PVC ${o.pvc} mounted at ${plan.mountPath} (the SFT cache and checkpoints live there too)\n`);
      process.stdout.write(`run it with: bash ${shown(plan.files.apply)}\n`);
    });

  program
    .command('status')
    .description('every run of a sweep: pending, running (host, PID, since), interrupted, finished, failed or damaged (why), step and ETA')
    .argument('<results>', 'an experiment results folder, e.g. results/quick')
    .option('--json', 'print JSON')
    .action((results: string, o: { json?: boolean }) => {
      const st = sweepStatus(results);
      const slurm = slurmAdvice(st.dir, st.runs);
      if (o.json) {
        const advice = slurm ? { jobs: slurm.jobs, queued: slurm.queued, logs: Object.fromEntries(slurm.logs), resubmit: slurm.resubmit, restart: slurm.restart } : null;
        process.stdout.write(JSON.stringify({ ...st, slurm: advice }, null, 2) + '\n');
        return;
      }
      const c = st.counts;
      process.stdout.write(`${st.experiment}: ${st.runs.length} runs: ${c.finished} finished, ${c.running} running, ${c.interrupted} interrupted, ${c.failed} failed, ${c.pending} pending${c.damaged ? `, ${c.damaged} damaged` : ''}\n`);
      process.stdout.write(`SFT warm start: ${st.sft.state}${st.sft.detail ? ` (${st.sft.detail})` : ''}\n`);
      if (slurm?.jobs) process.stdout.write(`Slurm: SFT job ${slurm.jobs.sft}, run array ${slurm.jobs.runs}, report job ${slurm.jobs.report} (submitted ${slurm.jobs.submittedAt})\n`);
      const w = Math.max(3, ...st.runs.map((r) => r.run.length));
      process.stdout.write(`\n${'index'.padStart(5)}  ${'run'.padEnd(w)}  ${'state'.padEnd(11)}  ${'step'.padEnd(11)}  ${'ETA'.padStart(8)}  where / why\n`);
      for (const r of st.runs) {
        const step = r.state === 'pending' ? '-' : `${r.step}${r.totalSteps !== null ? `/${r.totalSteps}` : ` (${(100 * r.fraction).toFixed(0)}%)`}`;
        const log = slurm?.logs.get(r.index);
        const queued = (r.state === 'interrupted' || r.state === 'pending') && slurm?.queued?.includes(r.index);
        const info = [queued ? 'queued in Slurm' : '', where(r), log ? `log ${log}` : ''].filter(Boolean).join('; ');
        process.stdout.write(`${String(r.index).padStart(5)}  ${r.run.padEnd(w)}  ${r.state.padEnd(11)}  ${step.padEnd(11)}  ${(r.state === 'running' ? fmtDuration(r.eta) : '-').padStart(8)}  ${info}\n`);
      }
      const again = st.runs.filter((r) => r.state === 'interrupted');
      if (slurm?.resubmit) {
        process.stdout.write(`\nResubmit the runs that stopped or never started (indexes ${slurm.resubmit.indexes.join(',')}); they resume from their checkpoints:\n  ${slurm.resubmit.command}\n`);
      } else if (!slurm && again.length) {
        process.stdout.write(`\nInterrupted runs resume from their checkpoints: run \`rlbench run <experiment.json> --index I\` for I in ${again.map((r) => r.index).join(',')} (or the whole experiment again)\n`);
      }
      if (slurm?.restart) process.stdout.write(`\nFailed and damaged runs are skipped by a resubmission; to start them over (indexes ${slurm.restart.indexes.join(',')}):\n  ${slurm.restart.command}\n`);
      else if (c.failed || c.damaged) process.stdout.write(`\nFailed and damaged runs are skipped when resumed; \`rlbench run <experiment.json> --index I --fresh\` starts run I over.\n`);
    });
}
