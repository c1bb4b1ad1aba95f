// `rlbench probe --checkpoint DIR --experiment FILE [--prompts N] [--out FILE]`: the same-rollout
// gradient probe (harness/runs/probe.ts). Samples one batch from the checkpoint with the
// experiment's rollout settings, gives it to every objective of the experiment, and writes the
// per-rollout weights, gradient norms and gradient cosines as JSON (by default
// <output>/<experiment>/probe.json, where `rlbench report` picks it up as a report section).
import type { Command } from 'commander';
import { join, relative } from 'node:path';
import { UsageError } from '../util/errors.ts';
import { writeJsonAtomic } from '../util/fs.ts';

function intOption(name: string, raw: string | undefined, min: number): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} must be an integer >= ${min}, got '${raw}'`);
  return n;
}

export function registerProbeCommands(program: Command): void {
  program
    .command('probe')
    .description('give one shared batch of rollouts to every objective of an experiment: per-rollout weights by correctness, gradient norms and the cosine between the objectives\' gradients')
    .requiredOption('--checkpoint <dir>', 'policy checkpoint folder (policy.json + policy.onnx), e.g. results/.cache/sft-<hash> or results/quick/grpo-s1/checkpoint')
    .requiredOption('--experiment <file>', 'experiment JSON: its objectives, rollout settings (K, temperature, top-p, maxTokens) and training pool')
    .option('--prompts <n>', 'prompts in the batch (default: rl.promptsPerStep)')
    .option('--seed <n>', 'seed of the prompt order and the sampling (default: the experiment\'s first seed)')
    .option('--reference <dir>', 'reference policy checkpoint for KL terms and DPO (default: the probed checkpoint itself)')
    .option('--out <file>', 'where to write the JSON (default: <output>/<experiment>/probe.json)')
    .action(async (opts: { checkpoint: string; experiment: string; prompts?: string; seed?: string; reference?: string; out?: string }) => {
      const { loadExperiment } = await import('../runs/experiment.ts');
      const { loadCheckpoint } = await import('../engine/checkpoint.ts');
      const { createPolicyEngine } = await import('../engine/policy.ts');
      const { defaultTokenizer: tok } = await import('../tasks/tokenizer.ts');
      const { trainingProblems } = await import('../tasks/curriculum.ts');
      const { mathGrader } = await import('../tasks/grading/grader.ts');
      const { PromptStream } = await import('../runs/data.ts');
      const { RolloutEngine } = await import('../runs/rollout.ts');
      const { probeObjectives } = await import('../runs/probe.ts');

      const { experiment: exp, objectives } = await loadExperiment(opts.experiment);
      const prompts = intOption('prompts', opts.prompts, 1) ?? exp.rl.promptsPerStep;
      const seed = intOption('seed', opts.seed, 0) ?? exp.seeds[0]!;
      const ck = await loadCheckpoint(opts.checkpoint);
      if (ck.config.vocabSize !== tok.vocabSize) throw new UsageError(`--checkpoint ${opts.checkpoint}: vocabulary ${ck.config.vocabSize} is not the tokenizer's ${tok.vocabSize}`);
      const ref = opts.reference ? await loadCheckpoint(opts.reference) : ck;
      if (JSON.stringify(ref.config) !== JSON.stringify(ck.config)) throw new UsageError(`--reference ${opts.reference}: its policy config differs from the checkpoint's`);
      if (exp.tasks.datasets !== undefined) throw new UsageError(`--experiment ${opts.experiment}: the probe samples the built-in curriculum with a GPT checkpoint; this experiment trains on datasets`);
      const pool = trainingProblems(exp.tasks.dataSeed, exp.tasks.trainProblems);
      const policy = await createPolicyEngine(ck.config, { provider: exp.execution.provider, threads: exp.execution.threads || undefined });
      try {
        const rollout = new RolloutEngine(policy, { eos: tok.eos, pad: tok.pad, detokenize: (ids) => tok.decode(ids), batchSize: exp.eval.batchSize });
        const result = await probeObjectives({
          policy, rollout, tokenizer: tok, grader: mathGrader, params: ck.params, refParams: ref.params,
          problems: new PromptStream(pool, seed).take(0, prompts), objectives,
          sampling: { rolloutsPerPrompt: exp.rl.rolloutsPerPrompt, temperature: exp.rl.temperature, topP: exp.rl.topP, maxTokens: exp.rl.maxTokens },
          seed, checkpoint: opts.checkpoint, experiment: exp.name,
        });
        const out = opts.out ?? join(exp.output, exp.name, 'probe.json');
        writeJsonAtomic(out, result);
        const names = result.objectives.map((o) => o.name);
        const w = Math.max(10, ...names.map((n) => n.length));
        const lines = [
          `probe: ${result.prompts} prompts × ${result.rolloutsPerPrompt} rollouts, accuracy ${(100 * result.accuracy).toFixed(1)}%, checkpoint ${opts.checkpoint}`,
          `${'objective'.padEnd(w)}  mean w (correct)  mean w (incorrect)  contrast  |grad|`,
          ...result.objectives.map((o) => `${o.name.padEnd(w)}  ${o.correct.mean.toFixed(4).padStart(16)}  ${o.incorrect.mean.toFixed(4).padStart(18)}  ${o.contrast.toFixed(3).padStart(8)}  ${o.gradNorm.toExponential(3)}`),
          'gradient cosines:',
          ...result.cosine.map((row, i) => `${names[i]!.padEnd(w)}  ${row.map((c) => (c === null ? '   –  ' : c.toFixed(3).padStart(6))).join(' ')}`),
          `written: ${relative(process.cwd(), out).startsWith('..') ? out : relative(process.cwd(), out)} (rlbench report adds it as a section)`,
        ];
        process.stdout.write(lines.join('\n') + '\n');
      } finally {
        await policy.release();
      }
    });
}
