// The SFT warm start: supervised training on the curriculum's worked solutions, from the seeded
// random initialisation. Loss = token mean of -log p over the target tokens (EOS included), so
// the one backward pass gets weights -1/N at every target position. Trained once per config
// and cached under <output>/.cache/sft-<hash>/ (hash of everything that determines the
// weights), so every objective and seed of an experiment starts from the identical checkpoint,
// which is also the frozen reference policy. Trained exactly once, also across processes and
// hosts: whoever finds no cache entry takes the entry's lock, checks again, and trains; the others
// wait for it. Every file of the entry is in its SHA256SUMS and checked when it is loaded.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PolicyConfig, PolicyEngine } from '../engine/types.ts';
import { AdamW, clipGradNorm, decayMask, learningRate } from '../engine/optim.ts';
import { saveCheckpoint, loadCheckpoint } from '../engine/checkpoint.ts';
import type { Problem } from '../tasks/types.ts';
import type { CharTokenizer } from '../tasks/tokenizer.ts';
import { readChecksums, verifyChecksum, writeChecksums } from '../util/checksums.ts';
import { RunError, isReportable, printable } from '../util/errors.ts';
import { CorruptFileError, readFileOrNull, recoverDir, removeStaleTemps, replaceDirAtomic, writeJsonAtomic } from '../util/fs.ts';
import { describeHolder, withLock, type LockOptions } from '../util/lock.ts';
import { Rng } from '../util/rng.ts';
import { packSequences } from './batch.ts';
import { encodePrompt, encodeTarget } from './data.ts';
import type { SftSettings } from './experiment.ts';

export interface SftJob {
  policyConfig: PolicyConfig;
  initSeed: number;
  settings: SftSettings;
  pool: readonly Problem[];
  /** Describes the pool for the hash (e.g. curriculum settings); the pool's contents are hashed too. */
  dataKey: unknown;
  version: string;
}

export interface SftInfo {
  hash: string;
  steps: number;
  finalLoss: number;
  wallTime: number;
  losses: { step: number; loss: number; lr: number; gradNorm: number }[];
}

// The code whose numerics decide the SFT weights: the engine (graphs, autodiff, optimiser),
// this file and the batch layout. Hashing it means an edited engine never reuses a stale cache.
const NUMERIC_SOURCES = ['../engine', './sft.ts', './batch.ts'].map((p) => fileURLToPath(new URL(p, import.meta.url)));
let codeDigestMemo: string | undefined;

function codeDigest(): string {
  if (codeDigestMemo) return codeDigestMemo;
  const h = createHash('sha256');
  const visit = (path: string): void => {
    if (statSync(path).isDirectory()) for (const name of readdirSync(path).sort()) visit(join(path, name));
    else if (path.endsWith('.ts')) h.update(path.slice(path.lastIndexOf('harness'))).update(readFileSync(path));
  };
  for (const p of NUMERIC_SOURCES) visit(p);
  return (codeDigestMemo = h.digest('hex'));
}

/**
 * Everything that determines the SFT weights: model, initialisation, settings, the data (a
 * digest of the encoded pool, so a change in the curriculum or its templates is a new cache
 * entry), the engine's code and the rlbench version.
 */
export function sftHash(job: SftJob, tok: CharTokenizer): string {
  const data = createHash('sha256');
  for (const p of job.pool) {
    data.update(encodePrompt(tok, p));
    data.update(encodeTarget(tok, p));
  }
  const key = { v: job.version, code: codeDigest(), policy: job.policyConfig, initSeed: job.initSeed, sft: job.settings, data: job.dataKey, pool: data.digest('hex'), vocab: tok.chars.join('') };
  return createHash('sha256').update(JSON.stringify(key)).digest('hex').slice(0, 16);
}

/**
 * The (prompt, target) pairs SFT trains on. A seeded fraction `directAnswerFrac` of them has the
 * bare final answer as target instead of the worked solution, so the SFT policy sometimes
 * answers without reasoning, as a policy imitating mixed-quality demonstrations does.
 */
export function sftExamples(job: SftJob, tok: CharTokenizer): { prompt: Int32Array; response: Int32Array }[] {
  const frac = job.settings.directAnswerFrac ?? 0;
  const rng = new Rng(job.settings.seed).fork('direct-answer');
  return job.pool.map((p) => {
    const direct = frac > 0 && rng.next() < frac;
    const response = direct ? Int32Array.from([...tok.encode(`#### ${p.answer}`), tok.eos]) : encodeTarget(tok, p);
    return { prompt: encodePrompt(tok, p), response };
  });
}

/** Trains the SFT policy from the random initialisation and returns its weights. */
export async function trainSft(policy: PolicyEngine, job: SftJob, tok: CharTokenizer, onStep?: (step: number, loss: number) => void): Promise<{ params: Float32Array; info: Omit<SftInfo, 'hash'> }> {
  const s = job.settings;
  const params = policy.initParams(job.initSeed);
  const opt = new AdamW(policy.paramCount, decayMask(policy.params, policy.paramCount), { weightDecay: s.weightDecay, beta1: 0.9, beta2: 0.95 });
  const examples = sftExamples(job, tok);
  const schedule = { lr: s.lr, warmupSteps: s.warmupSteps, decay: s.decay, minLrRatio: s.minLrRatio };
  const rng = new Rng(s.seed).fork('sft-order');
  let order: number[] = [];
  let pos = 0;
  const losses: SftInfo['losses'] = [];
  const t0 = performance.now();
  let loss = NaN;
  for (let step = 0; step < s.steps; step++) {
    const batch = [];
    for (let i = 0; i < s.batchSize; i++) {
      if (pos >= order.length) {
        order = rng.shuffle(Array.from({ length: examples.length }, (_, j) => j));
        pos = 0;
      }
      batch.push(examples[order[pos++]!]!);
    }
    const packed = packSequences(batch, tok.pad);
    let nTok = 0;
    for (const l of packed.lengths) nTok += l;
    const W = packed.batch.time - 1;
    const weights = new Float32Array(packed.batch.batch * W);
    for (let b = 0; b < packed.batch.batch; b++) weights.fill(-1 / nTok, b * W + packed.promptWidth - 1, b * W + packed.promptWidth - 1 + packed.lengths[b]!);
    const { grad, value } = await policy.gradWeightedLogprob(params, packed.batch, weights);
    loss = value;
    const clip = clipGradNorm(grad, s.gradClip);
    if (!Number.isFinite(value) || !clip.finite) {
      throw new RunError(`SFT: non-finite ${Number.isFinite(value) ? 'gradient' : 'loss'} at step ${step + 1} (loss ${value}, gradient norm ${clip.norm}); lower sft.lr`);
    }
    const lr = learningRate(schedule, step, s.steps > 1 ? step / (s.steps - 1) : 1);
    opt.step(params, grad, lr);
    if (step % 10 === 0 || step === s.steps - 1) losses.push({ step: step + 1, loss: value, lr, gradNorm: clip.norm });
    onStep?.(step + 1, value);
  }
  return { params, info: { steps: s.steps, finalLoss: loss, wallTime: (performance.now() - t0) / 1000, losses } };
}

export interface SftResult {
  params: Float32Array;
  info: SftInfo;
  dir: string;
  cached: boolean;
}

export interface EnsureSftOptions {
  /** Train it again even when the cache has it (--fresh-sft). */
  fresh?: boolean;
  /** Lock timing (tests shorten it); waiting for another trainer is unbounded. */
  lock?: Pick<LockOptions, 'heartbeatMs' | 'staleMs' | 'pollMs'>;
}

/** The lock that makes one process train a cache entry while the others wait. */
export function sftLockPath(cacheRoot: string, hash: string): string {
  return join(cacheRoot, '.locks', `sft-${hash}.lock`);
}

/** A cache entry, verified file by file; null when there is none. A damaged one names the file and --fresh-sft. */
async function loadCached(dir: string, hash: string): Promise<SftResult | null> {
  const remedy = `run with --fresh-sft to train it again (or delete ${dir})`;
  recoverDir(dir);
  if (!existsSync(dir)) return null;
  const infoPath = join(dir, 'sft.json');
  const infoBytes = readFileOrNull(infoPath, remedy);
  if (infoBytes === null) throw new CorruptFileError(infoPath, 'missing from the SFT cache entry', remedy);
  const sums = readChecksums(dir, remedy);
  verifyChecksum(dir, 'sft.json', infoBytes, sums, remedy);
  const policyJson = readFileOrNull(join(dir, 'policy.json'), remedy);
  if (policyJson === null) throw new CorruptFileError(join(dir, 'policy.json'), 'missing from the SFT cache entry', remedy);
  verifyChecksum(dir, 'policy.json', policyJson, sums, remedy);
  let info: SftInfo;
  try {
    info = JSON.parse(infoBytes.toString('utf8')) as SftInfo;
  } catch (e) {
    throw new CorruptFileError(infoPath, `truncated or not valid JSON (${printable((e as Error).message)})`, remedy);
  }
  if (!info || typeof info !== 'object' || info.hash !== hash) throw new CorruptFileError(infoPath, `records hash ${JSON.stringify(info?.hash)}, expected ${hash}`, remedy);
  try {
    const ck = await loadCheckpoint(dir);
    return { params: ck.params, info, dir, cached: true };
  } catch (e) {
    if (e instanceof CorruptFileError) throw e.withRemedy(remedy);
    if (isReportable(e)) throw new CorruptFileError(dir, (e as Error).message.replace(/^loadCheckpoint: /, ''), remedy);
    throw e;
  }
}

/**
 * The cached SFT checkpoint for this job, training it first when the cache has none (or when
 * `fresh`). The entry is built in a temporary folder and renamed into place, so a crash never
 * leaves a half-written entry; the lock makes concurrent processes train it once.
 */
export async function ensureSft(policy: PolicyEngine, job: SftJob, tok: CharTokenizer, cacheRoot: string, log: (msg: string) => void, opts: EnsureSftOptions = {}): Promise<SftResult> {
  const hash = sftHash(job, tok);
  const dir = join(cacheRoot, `sft-${hash}`);
  // Entries half-written by killed processes (a live writer's, or a recent one on another host, stay).
  for (const p of [...removeStaleTemps(cacheRoot), ...removeStaleTemps(join(cacheRoot, '.locks'))]) log(`sft: removed ${p} (left by a process that is gone)`);
  if (!opts.fresh) {
    const hit = await loadCached(dir, hash);
    if (hit) {
      log(`sft: reusing cached checkpoint ${dir}`);
      return hit;
    }
  }
  return withLock(
    sftLockPath(cacheRoot, hash),
    async () => {
      if (!opts.fresh) {
        // Another process may have trained it while this one waited for the lock.
        const hit = await loadCached(dir, hash);
        if (hit) {
          log(`sft: reusing cached checkpoint ${dir}`);
          return hit;
        }
      }
      return trainAndCache(policy, job, tok, hash, dir, log);
    },
    {
      purpose: `the SFT warm start sft-${hash} is being trained`,
      waitMs: Infinity,
      ...opts.lock,
      onWait: (h) => log(`sft: waiting: ${describeHolder(h, opts.lock?.staleMs)}`),
      onTakeover: (h, why) => log(`sft: taking over the SFT lock of pid ${h.owner?.pid ?? '?'} on host ${h.owner?.host ?? '?'}: ${why}`),
    },
  );
}

async function trainAndCache(policy: PolicyEngine, job: SftJob, tok: CharTokenizer, hash: string, dir: string, log: (msg: string) => void): Promise<SftResult> {
  log(`sft: training ${job.settings.steps} steps × ${job.settings.batchSize} examples (cache ${dir})`);
  let last = performance.now();
  const { params, info } = await trainSft(policy, job, tok, (step, loss) => {
    const now = performance.now();
    if (now - last > 10_000 || step === job.settings.steps) {
      log(`sft: step ${step}/${job.settings.steps} loss ${loss.toFixed(4)}`);
      last = now;
    }
  });
  const full: SftInfo = { hash, ...info };
  await replaceDirAtomic(dir, async (tmp) => {
    const sums = await saveCheckpoint(tmp, policy.config, params);
    sums['sft.json'] = writeJsonAtomic(join(tmp, 'sft.json'), full).sha256;
    writeChecksums(tmp, sums);
  });
  return { params, info: full, dir, cached: false };
}
