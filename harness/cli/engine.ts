// `rlbench engine …`: checks and facts about the compute engine. `gradcheck` compares the
// autodiff gradient of sum(w * logp) of a small random policy (the built-in GPT, or the family
// and switches of a Hugging Face checkpoint's architecture) with finite differences; `info`
// lists the execution providers and the ONNX Runtime version.
import type { Command } from 'commander';
import { availableParallelism } from 'node:os';
import { UsageError } from '../util/errors.ts';
import { policyGradcheck, gradcheckConfigLike, GRADCHECK_CONFIG } from '../engine/gradcheck.ts';
import { readHfConfig } from '../engine/hf/config.ts';
import { isLlamaConfig, type PolicyConfig } from '../engine/types.ts';
import { listProviders, ORT_VERSION } from '../engine/session.ts';

/** One line naming a policy config's architecture and sizes. */
export function describePolicy(c: PolicyConfig): string {
  if (!isLlamaConfig(c)) return `gpt: vocab ${c.vocabSize}, context ${c.contextLength}, width ${c.dModel}, ${c.nLayers} layers, ${c.nHeads} heads`;
  const switches = [
    c.qkvBias && 'q/k/v biases', c.oBias && 'o bias', c.mlpBias && 'MLP biases', c.qkNorm && 'q/k norm',
    c.tieWordEmbeddings ? 'tied head' : 'untied head', c.ropeScaling ? `${c.ropeScaling.type} RoPE scaling` : 'default RoPE',
  ].filter(Boolean);
  return `${c.modelType} (llama family): vocab ${c.vocabSize}, context ${c.contextLength}, hidden ${c.hiddenSize}, ${c.nLayers} layers, ${c.nHeads} heads / ${c.nKvHeads} KV heads of ${c.headDim}, MLP ${c.intermediateSize}; ${switches.join(', ')}`;
}

function intOption(name: string, raw: string, min: number): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} must be an integer >= ${min}, got '${raw}'`);
  return n;
}

export function registerEngineCommands(program: Command): void {
  const cmd = program.command('engine').description('check the ONNX Runtime engine (gradients, providers)');

  cmd.command('gradcheck')
    .description('compare the autodiff gradient of sum(w*logp) with central finite differences (float64) on a small random policy; exit 1 above the tolerance')
    .option('--model <dir>', "check the architecture of this Hugging Face checkpoint (a small random config of its family, with its switches)")
    .option('--seed <n>', 'seed for the policy, tokens, weights and sampled parameters', '0')
    .option('--samples <n>', 'number of parameters checked (every tensor at least once)', '64')
    .option('--json', 'print the result as JSON')
    .action(async (opts: { model?: string; seed: string; samples: string; json?: boolean }) => {
      const seed = intOption('seed', opts.seed, 0);
      const samples = intOption('samples', opts.samples, 1);
      const cfg = opts.model === undefined ? GRADCHECK_CONFIG : gradcheckConfigLike(readHfConfig(opts.model));
      const r = await policyGradcheck(seed, samples, cfg);
      if (opts.json) process.stdout.write(JSON.stringify(r) + '\n');
      else {
        process.stdout.write(
          `policy: ${describePolicy(cfg)} (${r.paramCount} params), float64, seed ${seed}\n` +
            `checked ${r.checked} parameters against central differences (h = 1e-5)\n` +
            `max relative error ${r.maxRelErr.toExponential(3)} at ${r.worst}\n` +
            `tolerance ${r.tolerance.toExponential(1)}: ${r.ok ? 'PASS' : 'FAIL'}\n`,
        );
      }
      if (!r.ok) process.exitCode = 1;
    });

  cmd.command('info')
    .description('print the ONNX Runtime version and the execution providers this install has')
    .option('--json', 'print JSON')
    .action((opts: { json?: boolean }) => {
      const providers = listProviders();
      const threads = availableParallelism();
      if (opts.json) {
        process.stdout.write(JSON.stringify({ onnxruntime: ORT_VERSION, defaultThreads: threads, providers }) + '\n');
        return;
      }
      process.stdout.write(`onnxruntime-node ${ORT_VERSION}; default CPU threads ${threads}\nexecution providers:\n`);
      for (const p of providers) process.stdout.write(`  ${p.name.padEnd(9)} ${p.bundled ? 'bundled' : 'not bundled (needs the binaries installed, see README)'}\n`);
    });
}
