// The PyTorch peer of the engine benchmarks, seen from TypeScript: finds a Python with torch
// (and transformers for Hugging Face models) from `--python PATH` or RLBENCH_PEER_PYTHON,
// starts benchmarks/peer/torch_peer.py once, and sends it one command at a time, so that its
// rounds interleave with ours in one invocation. Also the shared measuring helpers of the
// benchmarks: per-call peak RSS (the kernel's high-water mark, reset before each call), medians
// and spreads of interleaved rounds; the relaunch with the engine's glibc malloc settings.
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { envWithMallocTunables, MALLOC_TUNABLES } from '../../harness/engine/session.ts';

/** Where a relaunch puts the GLIBC_TUNABLES the PyTorch peer is to run with. */
const PEER_TUNABLES_VAR = 'RLBENCH_PEER_GLIBC_TUNABLES';

/**
 * The peer's share of the engine's malloc settings: huge pages only. Measured here (training
 * step, 1 x 256, 2 threads, 3 calls each): 27.5-37.3 s with glibc's defaults, 15.6-20.3 s with
 * hugetlb=1, 27.0-29.3 s with trim_threshold=0 as well (its allocator frees and maps again).
 */
const PEER_MALLOC_TUNABLES = MALLOC_TUNABLES.filter((t) => t.startsWith('glibc.malloc.hugetlb='));

/**
 * Runs this benchmark again, in a child process started with the engine's glibc malloc settings
 * (session.ts, MALLOC_TUNABLES: huge pages, memory returned at once), and exits with its
 * status, unless nothing is missing from them, the platform is not Linux, or `--glibc-defaults`
 * is given (then both sides run with the environment as given). The PyTorch peer runs with
 * the settings that are fastest for it (huge pages only, PEER_MALLOC_TUNABLES). Returns a line
 * for the report saying what each side ran with.
 */
export function relaunchWithMallocTunables(args: string[]): string {
  const peerTunables = process.env[PEER_TUNABLES_VAR] ?? process.env.GLIBC_TUNABLES ?? '';
  const note = () => `malloc: ours GLIBC_TUNABLES=${process.env.GLIBC_TUNABLES || '(glibc defaults)'}, PyTorch GLIBC_TUNABLES=${peerTunables || '(glibc defaults)'}`;
  if (args.includes('--glibc-defaults') || process.platform !== 'linux') return note();
  const env = envWithMallocTunables();
  // Nothing to add (ours, or a user's choice for the same keys): run as we are, no relaunch loop.
  if (env === process.env) return note();
  const forPeer = envWithMallocTunables(process.env, PEER_MALLOC_TUNABLES).GLIBC_TUNABLES ?? '';
  const r = spawnSync(process.execPath, [...process.execArgv, ...process.argv.slice(1)], { stdio: 'inherit', env: { ...env, [PEER_TUNABLES_VAR]: forPeer } });
  process.exit(r.status ?? 1);
}

/** The peer's environment: ours, with the GLIBC_TUNABLES chosen for it (relaunchWithMallocTunables). */
function peerEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  const chosen = env[PEER_TUNABLES_VAR];
  delete env[PEER_TUNABLES_VAR];
  if (chosen === undefined) return env;
  if (chosen) env.GLIBC_TUNABLES = chosen;
  else delete env.GLIBC_TUNABLES;
  return env;
}

export const PEER_SCRIPT = fileURLToPath(new URL('../peer/torch_peer.py', import.meta.url));

/** `--python PATH` from argv, else RLBENCH_PEER_PYTHON, else null (the peer columns print n/a). */
export function peerPython(args: string[]): string | null {
  const i = args.indexOf('--python');
  if (i >= 0) {
    const p = args[i + 1];
    if (!p || p.startsWith('--')) throw new Error('--python needs a path to a Python with torch');
    return p;
  }
  return process.env.RLBENCH_PEER_PYTHON || null;
}

export interface PeerAnswer {
  seconds?: number;
  cpuSeconds?: number;
  peakRssMiB?: number;
  params?: number;
  error?: string;
}

export class TorchPeer {
  private lines: AsyncIterableIterator<string>;
  private constructor(
    private readonly child: ChildProcessWithoutNullStreams,
    readonly info: { torch: string; transformers: string; threads: number; mkl: boolean },
    lines: AsyncIterableIterator<string>,
  ) {
    this.lines = lines;
  }

  /**
   * Starts the peer with `threads` intra-op threads; throws with the reason when it cannot.
   * Idle OpenMP threads sleep (OMP_WAIT_POLICY=PASSIVE) unless `spin`, as ORT's do here
   * (allow_spinning 0): on a shared machine spinning threads slow their own process down, and
   * measured here PyTorch's rollout took 19-43 s with spinning and 2.9-5.7 s without.
   */
  static async start(python: string, threads: number, spin = false): Promise<TorchPeer> {
    if (!existsSync(python)) throw new Error(`peer Python ${python} does not exist`);
    const child = spawn(python, [PEER_SCRIPT], {
      env: {
        ...peerEnv(),
        PEER_THREADS: String(threads),
        OMP_NUM_THREADS: String(threads),
        MKL_NUM_THREADS: String(threads),
        ...(spin ? {} : { OMP_WAIT_POLICY: 'PASSIVE' }),
      },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    const first = await lines.next();
    if (first.done) throw new Error(`peer ${python} exited before it was ready: ${stderr.trim().split('\n').slice(-3).join(' | ')}`);
    const info = JSON.parse(first.value) as TorchPeer['info'] & { ready: boolean };
    return new TorchPeer(child, info, lines);
  }

  async call(msg: Record<string, unknown>): Promise<PeerAnswer> {
    this.child.stdin.write(JSON.stringify(msg) + '\n');
    const r = await this.lines.next();
    if (r.done) return { error: 'peer exited' };
    return JSON.parse(r.value) as PeerAnswer;
  }

  async close(): Promise<void> {
    this.child.stdin.write(JSON.stringify({ cmd: 'quit' }) + '\n');
    this.child.stdin.end();
    await new Promise((res) => this.child.once('exit', res));
  }
}

const status = () => readFileSync('/proc/self/status', 'utf8');

/** Resets this process's peak-RSS high-water mark (Linux; elsewhere peaks are process-wide). */
export function resetPeakRss(): void {
  try {
    writeFileSync('/proc/self/clear_refs', '5');
  } catch {
    /* not Linux: VmHWM (or maxRSS) stays the process-wide peak */
  }
}

/** Peak resident memory since the last reset, MiB. ORT's work runs inside the sampled window. */
export function peakRssMiB(): number {
  try {
    return Number(/VmHWM:\s+(\d+)/.exec(status())![1]) / 1024;
  } catch {
    return process.resourceUsage().maxRSS / 1024;
  }
}

/**
 * Times fn: wall seconds, CPU seconds of every thread of this process (ORT's included), and the
 * peak RSS during it. On a shared machine wall time swings with everyone's load; CPU time much
 * less, so the benchmarks report both.
 */
export async function measure<T>(fn: () => Promise<T>): Promise<{ seconds: number; cpuSeconds: number; peakRssMiB: number; value: T }> {
  resetPeakRss();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const value = await fn();
  const seconds = (performance.now() - t0) / 1e3;
  const c = process.cpuUsage(c0);
  return { seconds, cpuSeconds: (c.user + c.system) / 1e6, peakRssMiB: peakRssMiB(), value };
}

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  if (!s.length) return NaN;
  return s.length % 2 ? s[(s.length - 1) >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** Median and range of a series (rounds of a noisy, shared machine). */
export function summary(xs: number[]): { median: number; min: number; max: number; n: number } {
  return { median: median(xs), min: Math.min(...xs), max: Math.max(...xs), n: xs.length };
}
