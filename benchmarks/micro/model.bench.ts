// Real-scale benchmark (`npm run bench:model [-- --json] [--python PATH] [--threads N] [--rounds N]
// [--quick] [--provider cpu|webgpu] [--peer-device cpu|cuda] [--logprob-tokens N] [--train-tokens N]
// [--context N] [--steps N] [--batches 1,16,64] [--only WORD] [--glibc-defaults]`): a Qwen2.5-0.5B-shaped model (hidden 896, 24
// layers, 14 heads, 2 KV heads, MLP 4864, vocabulary 151,936, tied head, rope_theta 1e6) with
// random weights built from the config alone, measured for
//  1. teacher-forced log-probs + entropy (one row of --logprob-tokens tokens);
//  2. the training step, forward + backward of sum(w * logp) (one row of --train-tokens tokens);
//  3. greedy KV-cache decoding at batch 1, 16 and 64 after a --context-token context: one row is
//     prefilled (not timed), its cache repeated to the batch (selectCacheRows), then --steps
//     steps are timed;
// each with the peak resident memory of the call (the kernel's high-water mark, reset before it:
// the process's whole footprint, weights included). The same model runs in Hugging Face
// transformers on PyTorch (float32, same thread count, same shapes) in the same invocation when a
// Python with torch + transformers is given (--python or RLBENCH_PEER_PYTHON; "n/a" otherwise):
// each item's rounds interleave (ours first in even rounds, PyTorch first in odd ones), and the
// table gives medians with ranges and the median of the per-round ratios ours/PyTorch
// (throughput). On Linux it relaunches itself with the engine's glibc malloc settings (huge
// pages; session.ts MALLOC_TUNABLES, peer.ts relaunchWithMallocTunables; the peer inherits them)
// unless --glibc-defaults.
import { availableParallelism, cpus } from 'node:os';
import { createPolicyEngine } from '../../harness/engine/policy.ts';
import { llamaConfigFromHf } from '../../harness/engine/hf/config.ts';
import { ORT_VERSION } from '../../harness/engine/session.ts';
import { Rng } from '../../harness/util/rng.ts';
import type { ExecutionProvider, KvCache, PolicyEngine } from '../../harness/engine/types.ts';
import { TorchPeer, measure, peerPython, relaunchWithMallocTunables, summary } from './peer.ts';

const args = process.argv.slice(2);
const flag = (name: string) => args.includes(name);
function intArg(name: string, dflt: number): number {
  const i = args.indexOf(name);
  if (i < 0) return dflt;
  const n = Number(args[i + 1]);
  if (!Number.isInteger(n) || n < 1) fail(`${name} needs a positive integer, got '${args[i + 1] ?? ''}'`);
  return n;
}
function strArg(name: string, dflt: string): string {
  const i = args.indexOf(name);
  return i < 0 ? dflt : (args[i + 1] ?? fail(`${name} needs a value`));
}
function fail(msg: string): never {
  process.stderr.write(`bench:model: ${msg}\n`);
  process.exit(2);
}

const mallocNote = relaunchWithMallocTunables(args);
const quick = flag('--quick');
const json = flag('--json');
const threads = intArg('--threads', availableParallelism());
const rounds = intArg('--rounds', quick ? 1 : 3);
const provider = strArg('--provider', 'cpu') as ExecutionProvider;
const peerDevice = strArg('--peer-device', 'cpu');
const logprobTokens = intArg('--logprob-tokens', quick ? 128 : 512);
const trainTokens = intArg('--train-tokens', quick ? 64 : 256);
const context = intArg('--context', quick ? 128 : 512);
const steps = intArg('--steps', quick ? 4 : 16);
const batches = strArg('--batches', '1,16,64').split(',').map((x) => Number(x));
const only = strArg('--only', ''); // a word of the item names (decode, log-probs, training): run just those
if (!batches.every((b) => Number.isInteger(b) && b >= 1)) fail(`--batches must be positive integers, got ${strArg('--batches', '')}`);
const log = (s: string) => {
  if (!json) process.stderr.write(s + '\n');
};

/** Qwen2.5-0.5B's config.json fields that shape the model (the weights are random). */
export const QWEN25_05B_HF = {
  model_type: 'qwen2',
  hidden_size: 896,
  num_hidden_layers: 24,
  num_attention_heads: 14,
  num_key_value_heads: 2,
  intermediate_size: 4864,
  vocab_size: 151936,
  tie_word_embeddings: true,
  rope_theta: 1000000.0,
  rms_norm_eps: 1e-6,
  max_position_embeddings: 32768,
};
const cfg = llamaConfigFromHf(QWEN25_05B_HF, 'Qwen2.5-0.5B shape', { contextLength: Math.max(2048, context + steps + 1, logprobTokens + 1, trainTokens + 1) });
const V = cfg.vocabSize;

interface Sample {
  seconds: number;
  cpuSeconds: number;
  peakRssMiB: number;
  /** Decode, GPU providers: host-to-device bytes per timed step (weights; other inputs). */
  stepWeightBytes?: number;
  stepInputBytes?: number;
}

type Transfers = { weightUploads: number; weightBytes: number; inputBytes: number };
/** The engine's host-to-device counters (OrtPolicyEngine.transfers; zero on the CPU). */
const transfersOf = (e: PolicyEngine) => (e as unknown as { transfers: Transfers }).transfers;
interface Item {
  name: string;
  tokens: number;
  ours: (e: PolicyEngine, params: Float32Array) => Promise<Sample>;
  peer: Record<string, unknown>;
  /** Decode: the KV cache bytes at the end (for the memory target). */
  kvBytes?: number;
  /** Decode: the timed steps. */
  steps?: number;
}

const rng = new Rng(7);
const randomTokens = (n: number) => Int32Array.from({ length: n }, () => rng.int(V));

function decodeItem(B: number): Item {
  return {
    name: `decode, batch ${B}, ${context}-token context, ${steps} steps`,
    tokens: B * steps,
    kvBytes: 2 * cfg.nLayers * B * cfg.nKvHeads * (context + steps) * cfg.headDim * 4,
    steps,
    ours: async (e, p) => {
      // The context is prefilled once (not timed) and repeated to the batch.
      const pre = await e.decode(p, null, { tokens: randomTokens(context), batch: 1, time: context }, { temperature: 0 });
      let cache: KvCache = e.selectCacheRows(pre.cache, new Int32Array(B));
      e.releaseCache(pre.cache);
      let tokens: Int32Array = new Int32Array(B).fill(pre.tokens[0]!);
      const t = transfersOf(e), before = { ...t };
      const m = await measure(async () => {
        for (let s = 0; s < steps; s++) {
          const r = await e.decode(p, cache, { tokens, batch: B, time: 1 }, { temperature: 0 });
          cache = r.cache;
          tokens = r.tokens;
        }
      });
      e.releaseCache(cache);
      return { ...m, stepWeightBytes: (t.weightBytes - before.weightBytes) / steps, stepInputBytes: (t.inputBytes - before.inputBytes) / steps };
    },
    peer: { cmd: 'decode', batch: B, context, steps },
  };
}

const allItems: Item[] = [
  ...batches.map(decodeItem),
  {
    name: `log-probs, 1 × ${logprobTokens} tokens`,
    tokens: logprobTokens,
    ours: (e, p) => measure(() => e.logprobs(p, { tokens: randomTokens(logprobTokens + 1), batch: 1, time: logprobTokens + 1 })),
    peer: { cmd: 'logprobs', batch: 1, time: logprobTokens },
  },
  {
    name: `training step, 1 × ${trainTokens} tokens`,
    tokens: trainTokens,
    ours: (e, p) => measure(() => e.gradWeightedLogprob(p, { tokens: randomTokens(trainTokens + 1), batch: 1, time: trainTokens + 1 }, new Float32Array(trainTokens).fill(-1 / trainTokens))),
    peer: { cmd: 'train', batch: 1, time: trainTokens },
  },
];

const items = allItems.filter((it) => it.name.includes(only));
if (!items.length) fail(`--only ${only} matches no item`);

const t0 = performance.now();
const python = peerPython(args);
let peer: TorchPeer | null = null;
let peerNote = 'no Python given (--python PATH or RLBENCH_PEER_PYTHON)';
if (python) {
  try {
    peer = await TorchPeer.start(python, threads);
    const setup = await peer.call({ cmd: 'setup', model: 'qwen2', config: QWEN25_05B_HF, seed: 0, device: peerDevice });
    if (setup.error) throw new Error(setup.error);
    peerNote = `PyTorch ${peer.info.torch}, transformers ${peer.info.transformers}, ${peer.info.threads} threads, ${peerDevice}`;
  } catch (e) {
    peerNote = `peer failed to start: ${(e as Error).message}`;
    peer = null;
  }
}
log(`bench:model: Qwen2.5-0.5B shape, onnxruntime-node ${ORT_VERSION} (${provider}), ${threads} threads; peer: ${peerNote}`);

const engine = await createPolicyEngine(cfg, { threads, provider });
const params = engine.initParams(0);
const weightBytes = params.byteLength;
log(`  ${engine.paramCount.toLocaleString('en-US')} parameters (${(weightBytes / 2 ** 30).toFixed(2)} GiB float32); warming up (compiles every graph)`);
// Item by item (decode first, so that its memory is measured before training's allocations
// inflate the process), each warmed up once (compiles its graphs), then its rounds interleaved
// with the peer's.
const ours: Sample[][] = items.map(() => []);
const theirs: (Sample | null)[][] = items.map(() => []);
// Host-to-device traffic of our last round of each item (zero on the CPU provider).
const transfers = transfersOf(engine);
const moved: (typeof transfers)[] = items.map(() => ({ weightUploads: 0, weightBytes: 0, inputBytes: 0 }));
for (const [i, it] of items.entries()) {
  await it.ours(engine, params);
  if (peer) await peer.call({ ...it.peer, ...(it.peer.steps ? { steps: 1 } : {}) });
  for (let r = 0; r < rounds; r++) {
    const runPeer = async () => {
      if (!peer) return theirs[i]!.push(null);
      const a = await peer.call(it.peer);
      theirs[i]!.push(a.error || a.seconds === undefined ? null : { seconds: a.seconds, cpuSeconds: a.cpuSeconds ?? NaN, peakRssMiB: a.peakRssMiB ?? NaN });
      if (a.error) log(`  peer ${it.name}: ${a.error}`);
  };
    if (r % 2 === 1) await runPeer();
    const before = { ...transfers };
    ours[i]!.push(await it.ours(engine, params));
    moved[i] = { weightUploads: transfers.weightUploads - before.weightUploads, weightBytes: transfers.weightBytes - before.weightBytes, inputBytes: transfers.inputBytes - before.inputBytes };
    if (r % 2 === 0) await runPeer();
    const o = ours[i]![r]!, p = theirs[i]![r];
    log(`  round ${r + 1}/${rounds} ${it.name}: ours ${o.seconds.toFixed(2)} s${p ? `, PyTorch ${p.seconds.toFixed(2)} s` : ''}`);
  }
}
await engine.release();
if (peer) await peer.close();

const results = items.map((it, i) => {
  const o = ours[i]!, p = theirs[i]!.filter((x): x is Sample => x !== null);
  const ratios = o.map((s, r) => (theirs[i]![r] ? theirs[i]![r]!.seconds / s.seconds : NaN)).filter(Number.isFinite);
  const cpuRatios = o.map((s, r) => (theirs[i]![r] ? theirs[i]![r]!.cpuSeconds / s.cpuSeconds : NaN)).filter(Number.isFinite);
  const oursPeak = Math.max(...o.map((s) => s.peakRssMiB));
  const memoryBound = it.kvBytes !== undefined ? (2 * weightBytes + it.kvBytes) / 2 ** 20 : undefined;
  return {
    item: it.name,
    tokens: it.tokens,
    ours: { seconds: summary(o.map((s) => s.seconds)), tokensPerSecond: it.tokens / summary(o.map((s) => s.seconds)).median, peakRssMiB: oursPeak },
    pytorch: p.length ? { seconds: summary(p.map((s) => s.seconds)), tokensPerSecond: it.tokens / summary(p.map((s) => s.seconds)).median, peakRssMiB: Math.max(...p.map((s) => s.peakRssMiB)) } : null,
    ratio: ratios.length ? summary(ratios) : null,
    cpuRatio: cpuRatios.length ? summary(cpuRatios) : null,
    ...(memoryBound !== undefined ? { memoryTargetMiB: memoryBound, meetsMemoryTarget: oursPeak <= memoryBound } : {}),
    hostToDevice: provider === 'cpu' ? null : { ...moved[i]!, ...(it.steps ? { weightBytesPerStep: o[o.length - 1]!.stepWeightBytes!, inputBytesPerStep: o[o.length - 1]!.stepInputBytes! } : {}) },
  };
});
const result = {
  machine: { cpu: cpus()[0]?.model ?? 'unknown', logicalCores: availableParallelism(), threads, provider, onnxruntime: ORT_VERSION, node: process.version, loadAverage: (await import('node:os')).loadavg() },
  model: { shape: 'Qwen2.5-0.5B', params: engine.paramCount, weightMiB: weightBytes / 2 ** 20, config: cfg },
  peer: peerNote,
  malloc: mallocNote,
  rounds,
  results,
  targets: { trainingRatio: 1.0, decodeBatch16Ratio: 1.5, decodeMemory: '<= 2 x weights + KV cache' },
  wallSeconds: (performance.now() - t0) / 1e3,
};

if (json) process.stdout.write(JSON.stringify(result, null, 2) + '\n');
else {
  const f = (x: number, d = 1) => x.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
  const range = (s: { median: number; min: number; max: number }, d = 2) => `${f(s.median, d)} (${f(s.min, d)}–${f(s.max, d)})`;
  process.stdout.write('| item | ours: s (range), tok/s | PyTorch: s (range), tok/s | ours/PyTorch (range) | same, CPU time | peak RSS ours / PyTorch |\n|---|---|---|---|---|---|\n');
  for (const r of results) {
    const o = `${range(r.ours.seconds)}, ${f(r.ours.tokensPerSecond)}`;
    const p = r.pytorch ? `${range(r.pytorch.seconds)}, ${f(r.pytorch.tokensPerSecond)}` : 'n/a';
    const ratio = r.ratio ? `**${f(r.ratio.median, 2)}×** (${f(r.ratio.min, 2)}–${f(r.ratio.max, 2)})` : 'n/a';
    const mem = `${f(r.ours.peakRssMiB, 0)} / ${r.pytorch ? f(r.pytorch.peakRssMiB, 0) : 'n/a'} MiB${'memoryTargetMiB' in r ? ` (target ≤ ${f(r.memoryTargetMiB!, 0)}: ${r.meetsMemoryTarget ? 'met' : 'NOT met'})` : ''}`;
    const cpuRatio = r.cpuRatio ? `${f(r.cpuRatio.median, 2)}× (${f(r.cpuRatio.min, 2)}–${f(r.cpuRatio.max, 2)})` : 'n/a';
    process.stdout.write(`| ${r.item} | ${o} | ${p} | ${ratio} | ${cpuRatio} | ${mem} |\n`);
  }
  for (const r of results) {
    const h = r.hostToDevice;
    if (!h) continue;
    const mib = (b: number) => f(b / 2 ** 20, 1);
    process.stdout.write(`host → device, ${r.item} (last round, untimed prefill included): ${h.weightUploads} weight upload(s), ${mib(h.weightBytes)} MiB of weights, ${mib(h.inputBytes)} MiB of other inputs${'weightBytesPerStep' in h ? `; per timed decode step ${mib(h.weightBytesPerStep!)} MiB of weights, ${mib(h.inputBytesPerStep!)} MiB of other inputs (KV cache, masks)` : ''}\n`);
  }
  process.stdout.write(`model: Qwen2.5-0.5B shape, ${engine.paramCount.toLocaleString('en-US')} parameters, random weights; ${rounds} interleaved rounds; ${result.machine.cpu}, ${threads} threads, ${provider}, onnxruntime-node ${ORT_VERSION}, Node ${process.version}; peer: ${peerNote}; ${mallocNote}; load average ${result.machine.loadAverage.map((x) => x.toFixed(1)).join(' ')}; wall ${f(result.wallSeconds)} s\n`);
  process.stdout.write('targets: training step ≥ 1.0× PyTorch, decode at batch 16 ≥ 1.5× PyTorch, decode peak RSS ≤ 2 × weights + KV cache\n');
}
