// ONNX Runtime sessions and execution providers: the one place that turns model bytes into an
// InferenceSession. `cpu` (default, intra-op threads configurable), `cuda` and `webgpu` where
// the installed onnxruntime-node has them; otherwise a clear error saying how to get one.
import * as ort from 'onnxruntime-node';
import { availableParallelism } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { UsageError } from '../util/errors.ts';
import type { EngineOptions, ExecutionProvider } from './types.ts';

export const ORT_VERSION: string = ort.env.versions.node ?? ort.env.versions.common;

const INSTALL_HINT: Record<ExecutionProvider, string> = {
  cpu: '',
  cuda:
    'The CUDA provider is not bundled with onnxruntime-node. After `npm ci`, install it with ' +
    '`ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install.js` (the variable wins over ' +
    "this project's .npmrc line onnxruntime-node-install=skip, which npm passes to install scripts and which silently " +
    'skips any --onnxruntime-node-install flag given to npm; the script downloads the CUDA 12 provider from NuGet, so it needs ' +
    'network access, and the machine needs CUDA 12 and cuDNN 9), or choose --provider cpu.',
  webgpu: 'The WebGPU provider needs a GPU with Vulkan/D3D12/Metal drivers visible to this process; choose --provider cpu otherwise.',
};

export interface ProviderInfo {
  name: string;
  bundled: boolean;
}

export function listProviders(): ProviderInfo[] {
  return ort.listSupportedBackends().map((b) => ({ name: b.name, bundled: b.bundled }));
}

const PROVIDERS: readonly ExecutionProvider[] = ['cpu', 'cuda', 'webgpu'];

/**
 * The provider when EngineOptions names none: RLBENCH_PROVIDER if set (how the test suite and
 * the benchmarks are pointed at a GPU without editing them), else cpu.
 */
export function defaultProvider(): ExecutionProvider {
  const env = process.env.RLBENCH_PROVIDER;
  if (env === undefined || env === '') return 'cpu';
  if (!PROVIDERS.includes(env as ExecutionProvider)) throw new UsageError(`RLBENCH_PROVIDER='${env}' is not an execution provider (choose cpu, cuda or webgpu)`);
  return env as ExecutionProvider;
}

export function sessionOptions(opts: EngineOptions = {}): ort.InferenceSession.SessionOptions {
  const provider = opts.provider ?? defaultProvider();
  if (!PROVIDERS.includes(provider)) throw new UsageError(`engine: unknown execution provider '${provider}' (choose cpu, cuda or webgpu)`);
  const threads = opts.threads ?? availableParallelism();
  if (!Number.isInteger(threads) || threads < 1) throw new UsageError(`engine: threads must be a positive integer, got ${opts.threads}`);
  const so: ort.InferenceSession.SessionOptions = {
    executionProviders: provider === 'cpu' ? ['cpu'] : [provider, 'cpu'],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
  };
  if (opts.cpuMemArena === false) so.enableCpuMemArena = false;
  // Idle intra-op threads sleep instead of spinning unless asked: on a shared machine spinning
  // steals cores from everyone (here it doubled the decode-step time under contention).
  if (!opts.spinThreads) so.extra = { session: { intra_op: { allow_spinning: '0' } } };
  return so;
}

/** Compiles model bytes for the chosen provider (`extra`: further session options, e.g. output locations). */
export async function createSession(bytes: Uint8Array, opts: EngineOptions = {}, extra: ort.InferenceSession.SessionOptions = {}): Promise<ort.InferenceSession> {
  const provider = opts.provider ?? defaultProvider();
  const so = { ...sessionOptions(opts), ...extra };
  if (provider !== 'cpu') {
    const known = listProviders().find((p) => p.name === provider);
    if (!known) throw new UsageError(`engine: execution provider '${provider}' is not available in onnxruntime-node ${ORT_VERSION}. ${INSTALL_HINT[provider]}`);
  }
  try {
    return await ort.InferenceSession.create(bytes, so);
  } catch (e) {
    const msg = (e as Error).message;
    if (provider !== 'cpu') throw new UsageError(`engine: execution provider '${provider}' failed to start: ${msg.split('\n')[0]}. ${INSTALL_HINT[provider]}`);
    throw e;
  }
}

/**
 * glibc malloc settings for real scale, as GLIBC_TUNABLES entries: fresh memory in 2 MiB
 * transparent huge pages (`hugetlb=1`; THP in "madvise" mode, as on this project's machines),
 * and freed memory handed back to the system at once (`trim_threshold=0`, which also keeps
 * glibc's mmap threshold at 128 KiB). Without ORT's arena (the 0.5B gradient graph runs without
 * it, see policy.ts) every large tensor of a run is fresh memory, and onnxruntime-node copies
 * every fetched output into a fresh ArrayBuffer: a Qwen2.5-0.5B gradient call touches about
 * 3 GB of new pages, ~700,000 page faults at 4 KiB, which on this VM were over half of the
 * call's CPU time. Measured (1 x 256 tokens, 2 threads, calls 2 and 3 of one process, same
 * gradient): 33.6-39.7 s of CPU and a 7.7-8.4 GB peak with glibc's defaults; 15.4-16.1 s and
 * 8.9-9.9 GB with hugetlb=1 alone; 14.8-18.0 s and 7.7 GB with both. glibc reads GLIBC_TUNABLES
 * only when a process starts, so they go into the environment of the command (or of a
 * relaunch, envWithMallocTunables).
 */
export const MALLOC_TUNABLES: readonly string[] = ['glibc.malloc.hugetlb=1', 'glibc.malloc.trim_threshold=0'];

const tunableKey = (t: string) => t.split('=')[0]!;
const tunablesOf = (env: NodeJS.ProcessEnv) => (env.GLIBC_TUNABLES ?? '').split(':').filter((t) => t);

/** Whether `env` (by default this process's, which glibc read at start) has every MALLOC_TUNABLES entry. */
export function mallocTunablesActive(env: NodeJS.ProcessEnv = process.env): boolean {
  const have = tunablesOf(env);
  return MALLOC_TUNABLES.every((t) => have.includes(t));
}

/** `env` with the `tunables` entries (MALLOC_TUNABLES) it does not set yet (a key it sets is left as it is). */
export function envWithMallocTunables(env: NodeJS.ProcessEnv = process.env, tunables: readonly string[] = MALLOC_TUNABLES): NodeJS.ProcessEnv {
  const have = tunablesOf(env);
  const keys = new Set(have.map(tunableKey));
  const add = tunables.filter((t) => !keys.has(tunableKey(t)));
  return add.length ? { ...env, GLIBC_TUNABLES: [...have, ...add].join(':') } : env;
}

let gcNow: (() => void) | undefined;

/**
 * Frees dead ArrayBuffers now. onnxruntime-node copies every fetched output into a fresh
 * ArrayBuffer, even one fetched into a preallocated tensor, and V8 collects those only at its
 * next major GC: after a run that fetched gradients of a 0.5B model that is 2 GB of garbage per
 * call, which piled up to 16 GB over three calls. Called after runs that fetch large outputs.
 */
export function collectGarbage(): void {
  if (!gcNow) {
    const exposed = (globalThis as { gc?: () => void }).gc;
    if (typeof exposed === 'function') gcNow = exposed;
    else {
      setFlagsFromString('--expose-gc');
      gcNow = runInNewContext('gc') as () => void;
    }
  }
  // Two full collections: measured here, a single one freed the copies of the run before the
  // last one only (one run's copies stayed alive until the next call's collection).
  gcNow();
  gcNow();
}

export { ort };
