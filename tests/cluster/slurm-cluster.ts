// A single-node Slurm for tests: munged, slurmctld and slurmd started in the foreground from a
// generated slurm.conf in a temporary folder (Slurm 22.05 from Debian, as root, with
// proctrack/linuxproc, task/none and no cgroup.conf), on free ports, so it touches nothing of the
// machine's own Slurm or munge. stop() ends exactly the processes it started, by PID.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';

const BINARIES = ['munged', 'mungekey', 'slurmctld', 'slurmd', 'sbatch', 'squeue', 'sinfo', 'scancel'];

function which(bin: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore', env: { ...process.env, PATH: `${process.env.PATH}:/usr/sbin:/sbin` } }).status === 0;
}

/**
 * Why Slurm cannot run here, or null when it can. As root, missing packages are installed with
 * apt-get first (as .ci/run does), so the test is skipped only where Slurm cannot be installed.
 */
export function slurmUnavailable(): string | null {
  const isRoot = process.getuid?.() === 0;
  const missing = () => BINARIES.filter((b) => !which(b));
  if (missing().length && isRoot && which('apt-get')) {
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    let r = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', 'slurm-wlm', 'munge'], { env, encoding: 'utf8' });
    if (r.status !== 0) {
      spawnSync('apt-get', ['update'], { env, stdio: 'ignore' });
      r = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', 'slurm-wlm', 'munge'], { env, encoding: 'utf8' });
    }
  }
  const still = missing();
  if (still.length) return `Slurm is not installed (${still.join(', ')} missing)${isRoot ? ' and apt-get could not install slurm-wlm and munge' : ' and installing it needs root: apt-get install slurm-wlm munge'}`;
  if (!isRoot) return 'slurmd needs root to start jobs here (run the tests as root, as CI does)';
  return null;
}

async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => res(port));
    });
  });
}

export interface SlurmCluster {
  dir: string;
  /** Environment for clients (sbatch, squeue, rlbench): points them at this cluster. */
  env: NodeJS.ProcessEnv;
  node: string;
  /** Runs a Slurm client command, returning stdout (throws on failure). */
  client(cmd: string, args: string[]): string;
  stop(): Promise<void>;
}

const sbin = (b: string) => (which(b) ? b : `/usr/sbin/${b}`);

/** `cpus`: what the node offers Slurm (jobs beyond it wait), not what the machine has. */
export async function startSlurm(dir: string, cpus = 1): Promise<SlurmCluster> {
  mkdirSync(join(dir, 'state'), { recursive: true });
  mkdirSync(join(dir, 'spool'), { recursive: true });
  const [ctldPort, dPort] = [await freePort(), await freePort()];
  const node = 'rlbench-test-node';
  const socket = join(dir, 'munge.socket');
  const conf = join(dir, 'slurm.conf');
  writeFileSync(
    conf,
    [
      'ClusterName=rlbenchtest',
      'SlurmctldHost=localhost(127.0.0.1)',
      'SlurmUser=root',
      'SlurmdUser=root',
      'AuthType=auth/munge',
      `AuthInfo=socket=${socket}`,
      'CredType=cred/munge',
      `StateSaveLocation=${join(dir, 'state')}`,
      `SlurmdSpoolDir=${join(dir, 'spool')}`,
      `SlurmctldPidFile=${join(dir, 'slurmctld.pid')}`,
      `SlurmdPidFile=${join(dir, 'slurmd.pid')}`,
      `SlurmctldPort=${ctldPort}`,
      `SlurmdPort=${dPort}`,
      'ProctrackType=proctrack/linuxproc',
      'TaskPlugin=task/none',
      'SchedulerType=sched/backfill',
      'SelectType=select/cons_tres',
      'SelectTypeParameters=CR_CPU',
      'SlurmdParameters=config_overrides',
      'ReturnToService=2',
      'MpiDefault=none',
      'JobAcctGatherType=jobacct_gather/none',
      'AccountingStorageType=accounting_storage/none',
      `SlurmctldLogFile=${join(dir, 'slurmctld.log')}`,
      `SlurmdLogFile=${join(dir, 'slurmd.log')}`,
      `NodeName=${node} NodeHostname=${hostname()} NodeAddr=127.0.0.1 CPUs=${cpus} RealMemory=1000 State=UNKNOWN`,
      'PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP',
      '',
    ].join('\n'),
  );
  const env = { ...process.env, SLURM_CONF: conf };
  const procs: ChildProcess[] = [];
  const started = (cmd: string, args: string[], log: string) => {
    const p = spawn(sbin(cmd), args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr!.on('data', (d) => (err += String(d)));
    p.on('exit', () => writeFileSync(join(dir, log), err));
    procs.push(p);
    return p;
  };
  const stop = async () => {
    // Newest first: slurmd, slurmctld, then munged, each by the PID we started.
    for (const p of [...procs].reverse()) {
      if (p.exitCode !== null || p.signalCode !== null) continue;
      p.kill('SIGTERM');
      const done = await Promise.race([new Promise((r) => p.once('exit', () => r(true))), new Promise((r) => setTimeout(() => r(false), 5000))]);
      if (!done) p.kill('SIGKILL');
    }
  };
  try {
    const key = join(dir, 'munge.key');
    const mk = spawnSync(sbin('mungekey'), ['-c', '-k', key, '-b', '1024'], { encoding: 'utf8' });
    if (mk.status !== 0) throw new Error(`mungekey: ${mk.stderr}`);
    started('munged', ['--foreground', '--force', `--socket=${socket}`, `--key-file=${key}`, `--pid-file=${join(dir, 'munged.pid')}`, `--log-file=${join(dir, 'munged.log')}`, `--seed-file=${join(dir, 'munged.seed')}`], 'munged.err');
    await waitFor(() => spawnSync('test', ['-S', socket]).status === 0, 10_000, 'munged socket');
    started('slurmctld', ['-D', '-f', conf], 'slurmctld.err');
    started('slurmd', ['-D', '-N', node, '-f', conf], 'slurmd.err');
    await waitFor(() => spawnSync('sinfo', ['-h', '-n', node, '-o', '%T'], { env, encoding: 'utf8' }).stdout?.trim() === 'idle', 30_000, `node ${node} idle`, () => readLogs(dir));
  } catch (e) {
    await stop();
    throw e;
  }
  return {
    dir,
    env,
    node,
    client(cmd, args) {
      const r = spawnSync(cmd, args, { env, encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
      return r.stdout;
    },
    stop,
  };
}

function readLogs(dir: string): string {
  return ['slurmctld.log', 'slurmd.log', 'munged.log']
    .map((f) => {
      try {
        return `--- ${f}\n${readFileSync(join(dir, f), 'utf8').split('\n').slice(-15).join('\n')}`;
      } catch {
        return `--- ${f}: none`;
      }
    })
    .join('\n');
}

export async function waitFor(ok: () => boolean, timeoutMs: number, what: string, diagnose?: () => string): Promise<void> {
  const t0 = Date.now();
  while (!ok()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}${diagnose ? `\n${diagnose()}` : ''}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
