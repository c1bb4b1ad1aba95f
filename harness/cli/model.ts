// `rlbench model …`: commands on a Hugging Face checkpoint folder (llama, qwen2, qwen3).
// `logprobs` scores token sequences teacher-forced; `generate` continues a prompt with the KV
// cache and the in-graph sampler, stopping before the first EOS id of generation_config.json.
// Each command registers itself in its own function below.
import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../util/errors.ts';
import { Rng } from '../util/rng.ts';
import { readEosIds, readHfConfig, readJsonFile } from '../engine/hf/config.ts';
import { loadHfWeights } from '../engine/hf/weights.ts';
import { createPolicyEngine } from '../engine/policy.ts';
import type { LlamaConfig, PolicyEngine } from '../engine/types.ts';
import { readJsonl } from '../tasks/datasets.ts';
import { RolloutEngine } from '../runs/rollout.ts';

export function registerModelCommands(program: Command): void {
  const cmd = program.command('model').description('inspect and use Hugging Face checkpoints (llama, qwen2, qwen3 folders with safetensors)');
  registerLogprobsCommand(cmd);
  registerGenerateCommand(cmd);
}

function requireModel(dir: string | undefined): string {
  if (!dir) throw new UsageError('--model DIR is required (a Hugging Face checkpoint folder)');
  return dir;
}

function intOption(name: string, raw: string, min: number): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} must be an integer >= ${min}, got '${raw}'`);
  return n;
}

function numberOption(name: string, raw: string, ok: (x: number) => boolean, range: string): number {
  const x = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(x) || !ok(x)) throw new UsageError(`--${name} must be a number ${range}, got '${raw}'`);
  return x;
}

/** A checkpoint's config, weights (float32) and a policy engine over them. */
async function openModel(dir: string, threads: string | undefined): Promise<{ cfg: LlamaConfig; params: Float32Array; engine: PolicyEngine }> {
  const cfg = readHfConfig(dir);
  const { params } = loadHfWeights(dir, cfg);
  const engine = await createPolicyEngine(cfg, { threads: threads === undefined ? undefined : intOption('threads', threads, 1) });
  return { cfg, params, engine };
}

/** Rows per engine call when scoring many sequences (sorted by length, so padding stays small). */
const LOGPROB_ROWS = 32;

function registerLogprobsCommand(cmd: Command): void {
  cmd.command('logprobs')
    .description('teacher-forced log-probs: each input line {"ids":[…]} gives one output line {"logp":[…]}, logp[t] = log p(ids[t+1] | ids[..t]) at positions 0… (no padding)')
    .option('--model <dir>', 'Hugging Face checkpoint folder (config.json, *.safetensors)')
    .option('--input <file>', 'JSONL file, one {"ids": [token ids]} per line')
    .option('--temperature <t>', 'log-softmax of logits / t (verl\'s convention for a rollout sampled at t)', '1')
    .option('--threads <n>', 'ONNX Runtime threads (default: all cores)')
    .action(async (opts: { model?: string; input?: string; temperature: string; threads?: string }) => {
      const dir = requireModel(opts.model);
      if (!opts.input) throw new UsageError('--input FILE.jsonl is required (one {"ids": [...]} per line)');
      const temperature = numberOption('temperature', opts.temperature, (x) => x > 0, '> 0');
      const cfg = readHfConfig(dir);
      // Every line is checked before anything is computed or printed.
      const seqs = readJsonl(opts.input).map(({ line, value }) => {
        const where = `${opts.input}:${line}`;
        const extra = Object.keys(value).filter((k) => k !== 'ids');
        if (extra.length) throw new UsageError(`${where}: unknown field "${extra[0]}" (each line is {"ids": [...]})`);
        const ids = value.ids;
        if (!Array.isArray(ids) || ids.length === 0) throw new UsageError(`${where}: "ids" must be a non-empty array of token ids, got ${JSON.stringify(ids)}`);
        ids.forEach((t, i) => {
          if (!Number.isInteger(t) || t < 0 || t >= cfg.vocabSize) throw new UsageError(`${where}: ids[${i}] = ${JSON.stringify(t)} is not a token id in [0, ${cfg.vocabSize})`);
        });
        if (ids.length > cfg.contextLength) throw new UsageError(`${where}: ${ids.length} ids exceed the context length ${cfg.contextLength}`);
        return Int32Array.from(ids as number[]);
      });
      const { params, engine } = await openModel(dir, opts.threads);
      try {
        const out: Float32Array[] = seqs.map(() => new Float32Array(0));
        const order = seqs.map((_, i) => i).filter((i) => seqs[i]!.length >= 2).sort((a, b) => seqs[a]!.length - seqs[b]!.length);
        for (let k = 0; k < order.length; k += LOGPROB_ROWS) {
          const rows = order.slice(k, k + LOGPROB_ROWS);
          const T = Math.max(...rows.map((i) => seqs[i]!.length));
          const tokens = new Int32Array(rows.length * T);
          const offsets = new Int32Array(rows.length);
          rows.forEach((i, r) => {
            offsets[r] = T - seqs[i]!.length;
            tokens.set(seqs[i]!, r * T + offsets[r]!);
          });
          const { logp } = await engine.logprobs(params, { tokens, batch: rows.length, time: T, offsets }, { temperature });
          rows.forEach((i, r) => (out[i] = logp.slice(r * (T - 1) + offsets[r]!, (r + 1) * (T - 1))));
        }
        process.stdout.write(out.map((l) => JSON.stringify({ logp: Array.from(l) })).join('\n') + (out.length ? '\n' : ''));
      } finally {
        await engine.release();
      }
    });
}

/** The sampling settings of generation_config.json: do_sample, temperature, top_p (greedy when do_sample is not true). */
function generationDefaults(dir: string): { temperature: number; topP: number } {
  const path = join(dir, 'generation_config.json');
  if (!existsSync(path)) return { temperature: 0, topP: 1 };
  const g = readJsonFile(path);
  if (g.do_sample !== true) return { temperature: 0, topP: 1 };
  const num = (k: string, ok: (x: number) => boolean) => {
    const v = g[k] ?? 1;
    if (typeof v !== 'number' || !ok(v)) throw new UsageError(`${path}: "${k}" must be a number in range, got ${JSON.stringify(g[k])}`);
    return v;
  };
  return { temperature: num('temperature', (x) => x >= 0 && Number.isFinite(x)), topP: num('top_p', (x) => x > 0 && x <= 1) };
}

function registerGenerateCommand(cmd: Command): void {
  cmd.command('generate')
    .description('continue a prompt with the KV cache (sampling inside the graph); prints {"ids":[new ids],"text":"…"}, stopping before the first EOS id of generation_config.json, which is excluded')
    .option('--model <dir>', 'Hugging Face checkpoint folder (config.json, *.safetensors, generation_config.json)')
    .option('--ids <list>', 'prompt token ids, comma-separated (e.g. 1,2,3)')
    .option('--prompt <text>', 'prompt text (needs the tokenizer)')
    .option('--chat', 'wrap --prompt as a user message with the chat template')
    .option('--max-tokens <n>', 'most new tokens')
    .option('--greedy', 'argmax decoding (lowest id on ties)')
    .option('--temperature <t>', 'sampling temperature (default: generation_config.json, greedy without do_sample)')
    .option('--top-p <p>', 'nucleus mass in (0, 1] (default: generation_config.json, else 1)')
    .option('--seed <n>', 'seed of the sampler', '0')
    .option('--threads <n>', 'ONNX Runtime threads (default: all cores)')
    .option('--json', 'print JSON')
    .action(async (opts: { model?: string; ids?: string; prompt?: string; chat?: boolean; maxTokens?: string; greedy?: boolean; temperature?: string; topP?: string; seed: string; threads?: string; json?: boolean }) => {
      const dir = requireModel(opts.model);
      if (opts.prompt !== undefined || opts.chat) throw new UsageError('--prompt needs the tokenizer; use --ids');
      if (opts.ids === undefined) throw new UsageError('give the prompt as --ids 1,2,3');
      if (opts.maxTokens === undefined) throw new UsageError('--max-tokens N is required');
      const maxTokens = intOption('max-tokens', opts.maxTokens, 1);
      const seed = intOption('seed', opts.seed, 0);
      if (opts.greedy && (opts.temperature !== undefined || opts.topP !== undefined)) throw new UsageError('--greedy cannot be combined with --temperature or --top-p');
      const cfg = readHfConfig(dir);
      const ids = opts.ids.split(',').map((s, i) => {
        const t = Number(s.trim());
        if (s.trim() === '' || !Number.isInteger(t) || t < 0 || t >= cfg.vocabSize) throw new UsageError(`--ids: entry ${i} '${s}' is not a token id in [0, ${cfg.vocabSize})`);
        return t;
      });
      if (ids.length + maxTokens > cfg.contextLength) throw new UsageError(`--ids has ${ids.length} tokens; with --max-tokens ${maxTokens} that exceeds the context length ${cfg.contextLength}`);
      const dflt = generationDefaults(dir);
      const temperature = opts.greedy ? 0 : opts.temperature !== undefined ? numberOption('temperature', opts.temperature, (x) => x >= 0, '>= 0') : dflt.temperature;
      const topP = opts.topP !== undefined ? numberOption('top-p', opts.topP, (x) => x > 0 && x <= 1, 'in (0, 1]') : dflt.topP;
      const eos = readEosIds(dir);
      const { params, engine } = await openModel(dir, opts.threads);
      try {
        const rollout = new RolloutEngine(engine, { eos, pad: 0, detokenize: () => '' });
        const [g] = await rollout.generate({
          params,
          prompts: [Int32Array.from(ids)],
          samples: 1,
          sampling: { temperature, topP, maxTokens },
          rng: new Rng(seed),
          behaviourLogprobs: false,
        });
        const fresh = Array.from(g!.tokens);
        if (fresh.length && eos.includes(fresh[fresh.length - 1]!)) fresh.pop(); // the EOS is not output
        const text = g!.text;
        if (opts.json) process.stdout.write(JSON.stringify({ ids: fresh, text }) + '\n');
        else process.stdout.write(`ids: ${fresh.join(',')}\ntext: ${text}\n`);
      } finally {
        await engine.release();
      }
    });
}
