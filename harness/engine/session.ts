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
