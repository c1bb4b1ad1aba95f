// `rlbench model …`: commands on a Hugging Face checkpoint folder (llama, qwen2, qwen3).
// `info` describes it (reading only headers and small JSON files, so it is instant even for
// large models); `tokenize` prints the ids of a text or of a one-message chat prompt;
// `logprobs` scores token sequences teacher-forced; `generate` continues a prompt with the KV
// cache and the in-graph sampler, stopping before the first EOS id of generation_config.json.
// Each command registers itself in its own function below.
import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../util/errors.ts';
import { Rng } from '../util/rng.ts';
import { readHfConfig, readJsonFile } from '../engine/hf/config.ts';
import { loadHfWeights } from '../engine/hf/weights.ts';
import { inspectHfCheckpoint, chatTemplateFor, type HfCheckpointInfo } from '../engine/hf/checkpoint.ts';
import { CHAT_TEMPLATE_OPTION, templateLabel } from '../engine/hf/chat-template.ts';
import { createPolicyEngine } from '../engine/policy.ts';
import type { LlamaConfig, PolicyEngine } from '../engine/types.ts';
import { readJsonl } from '../tasks/datasets.ts';
import { RolloutEngine } from '../runs/rollout.ts';

export function registerModelCommands(program: Command): void {
  const cmd = program.command('model').description('inspect and use Hugging Face checkpoints (llama, qwen2, qwen3 folders with safetensors)');
  registerInfoCommand(cmd);
  registerTokenizeCommand(cmd);
  registerLogprobsCommand(cmd);
  registerGenerateCommand(cmd);
}

function requireModel(dir: string | undefined): string {
  if (!dir) throw new UsageError('--model DIR is required (a Hugging Face checkpoint folder)');
  return dir;
}

/** The facts `model info` reports, as JSON. */
export function modelInfoJson(c: HfCheckpointInfo) {
  const cfg = c.config;
  const arch = Array.isArray(c.hfConfig.architectures) ? String(c.hfConfig.architectures[0]) : null;
  return {
    dir: c.dir,
    architecture: arch,
    modelType: cfg.modelType,
    paramCount: c.paramCount,
    dtype: c.dtype,
    weightFiles: c.weightFiles,
    weightBytes: c.weightBytes,
    vocabSize: cfg.vocabSize,
    tokenizerVocabSize: c.tokenizer.vocabSize,
    contextLength: cfg.contextLength,
    hiddenSize: cfg.hiddenSize,
    intermediateSize: cfg.intermediateSize,
    nLayers: cfg.nLayers,
    nHeads: cfg.nHeads,
    nKvHeads: cfg.nKvHeads,
    headDim: cfg.headDim,
    tiedHead: cfg.tieWordEmbeddings,
    qkvBias: cfg.qkvBias,
    qkNorm: cfg.qkNorm,
    rmsNormEps: cfg.rmsNormEps,
    ropeTheta: cfg.ropeTheta,
    ropeScaling: cfg.ropeScaling,
    eosIds: c.eosIds,
    specialTokens: { bos: c.tokenizer.bos ?? null, eos: c.tokenizer.eos ?? null, pad: c.tokenizer.pad ?? null },
    chatTemplate: c.chatTemplate !== null,
    chatTemplateSource: c.chatTemplate ? templateLabel(c.chatTemplate) : null,
    chatTemplateNames: [...c.chatTemplates.named.keys()],
    generation: c.generation,
  };
}

function humanBytes(n: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`;
}

function registerInfoCommand(cmd: Command): void {
  cmd.command('info')
    .description('architecture, parameter count, dtype, vocabulary, context length, shape, EOS ids and chat template of a checkpoint (reads headers only)')
    .option('--model <dir>', 'Hugging Face checkpoint folder (config.json, *.safetensors, tokenizer.json)')
    .option('--json', 'print JSON')
    .action((opts: { model?: string; json?: boolean }) => {
      const c = inspectHfCheckpoint(requireModel(opts.model));
      const j = modelInfoJson(c);
      if (opts.json) {
        process.stdout.write(JSON.stringify(j) + '\n');
        return;
      }
      const yn = (b: boolean) => (b ? 'yes' : 'no');
      const s = j.ropeScaling;
      const rows: [string, string][] = [
        ['checkpoint', j.dir],
        ['architecture', `${j.architecture ?? '?'} (model_type ${j.modelType})`],
        ['parameters', `${j.paramCount.toLocaleString('en-US')} (${(j.paramCount / 1e6).toFixed(j.paramCount < 1e7 ? 2 : 0)} M)`],
        ['dtype', `${j.dtype}, ${j.weightFiles.length} file${j.weightFiles.length > 1 ? 's' : ''}, ${humanBytes(j.weightBytes)}`],
        ['vocabulary', `${j.vocabSize}${j.tokenizerVocabSize !== j.vocabSize ? ` (tokenizer: ${j.tokenizerVocabSize} ids)` : ''}`],
        ['context length', `${j.contextLength}`],
        ['shape', `${j.nLayers} layers, hidden ${j.hiddenSize}, ${j.nHeads} heads, ${j.nKvHeads} KV heads, head dim ${j.headDim}, MLP ${j.intermediateSize}`],
        ['attention', `q/k/v bias ${yn(j.qkvBias)}, q/k norm ${yn(j.qkNorm)}`],
        ['tied output head', yn(j.tiedHead)],
        ['rope', `theta ${j.ropeTheta}, scaling ${s === null ? 'none' : s.type === 'linear' ? `linear ×${s.factor}` : `llama3 ×${s.factor} (low ${s.lowFreqFactor}, high ${s.highFreqFactor}, original ${s.originalMaxPositionEmbeddings})`}`],
        ['EOS ids', j.eosIds.length ? j.eosIds.join(', ') : 'none'],
        ['chat template', j.chatTemplate ? `yes (${j.chatTemplateSource}${j.chatTemplateNames.length > 1 ? `; named: ${j.chatTemplateNames.join(', ')}` : ''})` : 'no'],
        ['generation', Object.keys(j.generation).length ? Object.entries(j.generation).map(([k, v]) => `${k} ${v}`).join(', ') : 'no defaults'],
      ];
      const w = Math.max(...rows.map((r) => r[0].length));
      process.stdout.write(rows.map(([k, v]) => `${k.padEnd(w)}  ${v}\n`).join(''));
    });
}

function registerTokenizeCommand(cmd: Command): void {
  cmd.command('tokenize')
    .description('print {"ids":[…]} for a text (as transformers\' tokenizer(text) does), or with --chat for the chat prompt of a one-message user turn')
    .option('--model <dir>', 'Hugging Face checkpoint folder')
    .option('--text <text>', 'the text to tokenize')
    .option('--chat', 'wrap the text as a user message and apply the chat template with the generation prompt')
    .option(CHAT_TEMPLATE_OPTION.flags, CHAT_TEMPLATE_OPTION.description)
    .option('--no-special-tokens', "without --chat: leave out the tokenizer's own special tokens (e.g. Llama's BOS)")
    .option('--json', 'print only the JSON line (without it, the tokens are also listed on stderr)')
    .action((opts: { model?: string; text?: string; chat?: boolean; chatTemplate?: string; specialTokens: boolean; json?: boolean }) => {
      const dir = requireModel(opts.model);
      if (opts.text === undefined) throw new UsageError('--text T is required');
      if (opts.chatTemplate !== undefined && !opts.chat) throw new UsageError('--chat-template applies only with --chat');
      const c = inspectHfCheckpoint(dir);
      const ids = opts.chat
        ? chatTemplateFor(c, opts.chatTemplate).encode([{ role: 'user', content: opts.text }], c.tokenizer, { addGenerationPrompt: true }).ids
        : c.tokenizer.encode(opts.text, { addSpecialTokens: opts.specialTokens });
      process.stdout.write(JSON.stringify({ ids: [...ids] }) + '\n');
      if (!opts.json) process.stderr.write(`${ids.length} tokens: ${c.tokenizer.pieces(ids).map((t) => JSON.stringify(t)).join(' ')}\n`);
    });
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
    .option('--chat', 'wrap --prompt as a user message with the chat template and the generation prompt')
    .option(CHAT_TEMPLATE_OPTION.flags, CHAT_TEMPLATE_OPTION.description)
    .option('--max-tokens <n>', 'most new tokens')
    .option('--greedy', 'argmax decoding (lowest id on ties)')
    .option('--temperature <t>', 'sampling temperature (default: generation_config.json, greedy without do_sample)')
    .option('--top-p <p>', 'nucleus mass in (0, 1] (default: generation_config.json, else 1)')
    .option('--seed <n>', 'seed of the sampler', '0')
    .option('--threads <n>', 'ONNX Runtime threads (default: all cores)')
    .option('--json', 'print JSON')
    .action(async (opts: { model?: string; ids?: string; prompt?: string; chat?: boolean; chatTemplate?: string; maxTokens?: string; greedy?: boolean; temperature?: string; topP?: string; seed: string; threads?: string; json?: boolean }) => {
      const dir = requireModel(opts.model);
      if ((opts.ids === undefined) === (opts.prompt === undefined)) throw new UsageError('give the prompt as exactly one of --ids 1,2,3 or --prompt TEXT');
      if (opts.chat && opts.prompt === undefined) throw new UsageError('--chat wraps --prompt TEXT as a user message; it does not apply to --ids');
      if (opts.chatTemplate !== undefined && !opts.chat) throw new UsageError('--chat-template applies only with --chat');
      if (opts.maxTokens === undefined) throw new UsageError('--max-tokens N is required');
      const maxTokens = intOption('max-tokens', opts.maxTokens, 1);
      const seed = intOption('seed', opts.seed, 0);
      if (opts.greedy && (opts.temperature !== undefined || opts.topP !== undefined)) throw new UsageError('--greedy cannot be combined with --temperature or --top-p');
      const info = inspectHfCheckpoint(dir);
      const cfg = info.config;
      let ids: number[];
      if (opts.prompt !== undefined) {
        // As transformers does: a plain prompt gets the tokenizer's own specials (e.g. Llama's
        // BOS); a chat prompt is exactly what the template renders.
        ids = [...(opts.chat
          ? chatTemplateFor(info, opts.chatTemplate).encode([{ role: 'user', content: opts.prompt }], info.tokenizer, { addGenerationPrompt: true }).ids
          : info.tokenizer.encode(opts.prompt, { addSpecialTokens: true }))];
        if (ids.length === 0) throw new UsageError('--prompt encodes to no tokens');
      } else {
        ids = opts.ids!.split(',').map((s, i) => {
          const t = Number(s.trim());
          if (s.trim() === '' || !Number.isInteger(t) || t < 0 || t >= cfg.vocabSize) throw new UsageError(`--ids: entry ${i} '${s}' is not a token id in [0, ${cfg.vocabSize})`);
          return t;
        });
      }
      if (ids.length + maxTokens > cfg.contextLength) throw new UsageError(`the prompt has ${ids.length} tokens; with --max-tokens ${maxTokens} that exceeds the context length ${cfg.contextLength}`);
      const dflt = generationDefaults(dir);
      const temperature = opts.greedy ? 0 : opts.temperature !== undefined ? numberOption('temperature', opts.temperature, (x) => x >= 0, '>= 0') : dflt.temperature;
      const topP = opts.topP !== undefined ? numberOption('top-p', opts.topP, (x) => x > 0 && x <= 1, 'in (0, 1]') : dflt.topP;
      const eos = info.eosIds;
      const { params, engine } = await openModel(dir, opts.threads);
      try {
        const rollout = new RolloutEngine(engine, { eos, pad: 0, detokenize: (t) => info.tokenizer.decode(t, { skipSpecialTokens: true }) });
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
