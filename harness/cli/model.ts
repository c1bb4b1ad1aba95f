// `rlbench model …`: commands on a Hugging Face checkpoint folder. `info` describes it (reading
// only headers and small JSON files, so it is instant even for large models); `tokenize` prints
// the ids of a text, or of a one-message chat prompt. Each command registers itself in its own
// function below.
import type { Command } from 'commander';
import { UsageError } from '../util/errors.ts';
import { inspectHfCheckpoint, chatTemplateFor, type HfCheckpointInfo } from '../engine/hf/checkpoint.ts';
import { CHAT_TEMPLATE_OPTION, templateLabel } from '../engine/hf/chat-template.ts';

export function registerModelCommands(program: Command): void {
  const cmd = program.command('model').description('inspect and use Hugging Face checkpoints (llama, qwen2, qwen3 folders with safetensors)');
  registerInfoCommand(cmd);
  registerTokenizeCommand(cmd);
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
