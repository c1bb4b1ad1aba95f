// `rlbench objective …`: list the registered objectives with their settings, and the
// conformance command `objective eval`, which runs one objective's loss on a JSON batch in
// double precision so that anyone can check our numbers against their own implementation.
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { UsageError } from '../util/errors.ts';
import { getObjective, isPluginPath, listObjectives, resolveObjective, resolveObjectiveConfig, schemaDefaults } from '../../objectives/registry.ts';
import type { Objective, Rollout } from '../../objectives/types.ts';

const EVAL_HELP = `
Input (JSON, from --input or stdin):
  {
    "objective": "grpo",                 built-in id (rlbench objective list) or a plugin path
    "config": { "klCoef": 0 },           the objective's settings; omitted ones take defaults
    "rollouts": [
      { "group": "p0",                   prompt id (string or number): rollouts of one prompt form a group
        "reward": 1,                     grader reward (1 correct, 0 not)
        "length": 2,                     number of response tokens; every array below has this length
        "truncated": false,              optional, default false
        "logp":    [-0.5, -1.2],         current policy log-probs (what the gradient is taken with respect to)
        "logpOld": [-0.5, -1.2],         behaviour-policy log-probs
        "logpRef": [-0.4, -1.0] },       reference log-probs, required when the objective needs them
      …
    ]
  }

Output (stdout): {"loss": number, "grad": number[][], "metrics": {...}} where grad[i][t] is
dLoss/dlogp[i][t], aligned with rollouts[i].logp. Everything is computed in double precision;
no group filter is applied (DAPO's filtered groups get zero gradient inside the loss).
Bad input exits 2 with a message naming the field and the rollout index.`;

export function registerObjectiveCommands(program: Command): void {
  const cmd = program.command('objective').description('list the RL objectives and check their losses (conformance)');

  cmd.command('list')
    .description('print each objective with its title, paper reference, settings and defaults')
    .option('--json', 'print JSON instead of text')
    .action((opts: { json?: boolean }) => {
      if (opts.json) {
        process.stdout.write(JSON.stringify(listObjectives().map(describeObjective), null, 2) + '\n');
        return;
      }
      process.stdout.write(listText());
    });

  cmd.command('eval')
    .description('run an objective on a JSON batch and print loss, gradient and metrics (conformance command)')
    .option('-i, --input <file>', 'read the batch from this JSON file instead of stdin')
    .addHelpText('after', EVAL_HELP)
    .action(async (opts: { input?: string }) => {
      const src = opts.input ?? 'stdin';
      let text: string;
      try {
        text = opts.input ? readFileSync(opts.input, 'utf8') : readFileSync(0, 'utf8');
      } catch (e) {
        throw new UsageError(`${src}: cannot read: ${(e as Error).message}`);
      }
      const out = await evalObjective(text, src);
      process.stdout.write(JSON.stringify(out) + '\n');
    });
}

interface SettingInfo { type: string; default?: unknown; description?: string }

function settingType(p: Record<string, unknown>): string {
  if (Array.isArray(p.enum)) return p.enum.map((v) => JSON.stringify(v)).join(' | ');
  if (Array.isArray(p.anyOf)) return (p.anyOf as Record<string, unknown>[]).map((q) => (q.type === 'array' ? `[${settingType((q.items as Record<string, unknown>) ?? {})}, …]` : settingType(q))).join(' | ');
  let t = String(p.type ?? 'any');
  const lo = p.minimum ?? p.exclusiveMinimum;
  if (lo !== undefined || p.maximum !== undefined) {
    t += ` ${p.exclusiveMinimum !== undefined ? '>' : '>='} ${lo ?? '-inf'}`;
    if (p.maximum !== undefined) t += `, <= ${p.maximum}`;
  }
  return t;
}

function describeObjective(o: Objective): Record<string, unknown> {
  const props = (o.schema.properties as Record<string, Record<string, unknown>> | undefined) ?? {};
  const required = (o.schema.required as string[] | undefined) ?? [];
  const settings: Record<string, SettingInfo & { required?: boolean }> = {};
  for (const [k, p] of Object.entries(props)) {
    settings[k] = { type: settingType(p), ...('default' in p ? { default: p.default } : {}), ...(required.includes(k) ? { required: true } : {}), description: p.description as string | undefined };
  }
  return { id: o.id, title: o.title, reference: o.reference, ...(o.description ? { description: o.description } : {}), settings, defaults: schemaDefaults(o) };
}

/** The text `objective list` prints. */
export function listText(): string {
  return listObjectives().map(formatObjective).join('\n') + '\n';
}

function formatObjective(o: Objective): string {
  const d = describeObjective(o);
  const settings = d.settings as Record<string, SettingInfo & { required?: boolean }>;
  const rows = Object.entries(settings).map(([k, s]) => {
    const def = s.required ? 'required' : 'default' in s ? `default ${JSON.stringify(s.default)}` : 'derived';
    return `    ${k.padEnd(16)} ${s.type.padEnd(34)} ${def.padEnd(34)} ${s.description ?? ''}`.trimEnd();
  });
  return `${o.id} — ${o.title}\n  ${o.reference}\n${o.description ? `  ${o.description}\n` : ''}  settings:\n${rows.join('\n')}\n`;
}

const ROLLOUT_KEYS = ['group', 'reward', 'length', 'truncated', 'logp', 'logpOld', 'logpRef', 'tokens'];
const TOP_KEYS = ['objective', 'config', 'rollouts'];

function fail(msg: string): never {
  throw new UsageError(msg);
}

function numberArray(v: unknown, field: string, n: number, lengthField: string): number[] {
  if (!Array.isArray(v)) fail(`${field}: must be an array of numbers`);
  if (v.length !== n) fail(`${field}: has ${v.length} numbers but ${lengthField} is ${n}`);
  for (let t = 0; t < v.length; t++) {
    const x = v[t];
    if (typeof x !== 'number' || !Number.isFinite(x)) fail(`${field}[${t}]: must be a finite number, got ${JSON.stringify(x) ?? String(x)}`);
  }
  return v as number[];
}

/** Parses and checks a conformance batch, runs the objective, returns { loss, grad, metrics }. */
export async function evalObjective(text: string, src: string): Promise<{ loss: number; grad: number[][]; metrics: Record<string, number> }> {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    fail(`${src}: invalid JSON: ${(e as Error).message}`);
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) fail(`${src}: must be a JSON object with "objective", "config" and "rollouts"`);
  const d = doc as Record<string, unknown>;
  for (const k of Object.keys(d)) if (!TOP_KEYS.includes(k)) fail(`${src}: ${k}: unknown field (allowed: ${TOP_KEYS.join(', ')})`);
  if (typeof d.objective !== 'string' || !d.objective) fail(`objective: must be a string, an objective id or a plugin path (known ids: ${listObjectives().map((o) => o.id).join(', ')})`);
  let obj: Objective;
  try {
    obj = isPluginPath(d.objective) ? await resolveObjective(d.objective) : getObjective(d.objective);
  } catch (e) {
    if (e instanceof UsageError) fail(`objective: ${e.message}`);
    throw e;
  }
  const cfg = resolveObjectiveConfig(obj, d.config, 'config');
  const needRef = obj.needsReference(cfg);
  if (!Array.isArray(d.rollouts)) fail('rollouts: must be an array of rollout objects');
  const batch: Rollout[] = [];
  const logp: number[][] = [];
  d.rollouts.forEach((raw: unknown, i: number) => {
    const at = `rollouts[${i}]`;
    if (!raw || typeof raw !== 'object' || Array.isArray(raw)) fail(`${at}: must be an object`);
    const r = raw as Record<string, unknown>;
    for (const k of Object.keys(r)) if (!ROLLOUT_KEYS.includes(k)) fail(`${at}.${k}: unknown field (allowed: ${ROLLOUT_KEYS.join(', ')})`);
    if (typeof r.group === 'number' ? !Number.isFinite(r.group) : typeof r.group !== 'string') fail(`${at}.group: must be a string or a number`);
    if (typeof r.reward !== 'number' || !Number.isFinite(r.reward)) fail(`${at}.reward: must be a finite number, got ${JSON.stringify(r.reward)}`);
    if (typeof r.length !== 'number' || !Number.isInteger(r.length) || r.length < 0) fail(`${at}.length: must be a non-negative integer, got ${JSON.stringify(r.length)}`);
    if (r.truncated !== undefined && typeof r.truncated !== 'boolean') fail(`${at}.truncated: must be true or false`);
    const n = r.length;
    if (r.logp === undefined) fail(`${at}.logp: missing`);
    const lp = numberArray(r.logp, `${at}.logp`, n, `${at}.length`);
    if (r.logpOld === undefined) fail(`${at}.logpOld: missing (behaviour-policy log-probs; equal to logp when on-policy)`);
    const lo = numberArray(r.logpOld, `${at}.logpOld`, n, `${at}.length`);
    let lr: number[] | undefined;
    if (r.logpRef !== undefined) lr = numberArray(r.logpRef, `${at}.logpRef`, n, `${at}.length`);
    else if (needRef) fail(`${at}.logpRef: missing, but ${obj.id} with these settings needs reference log-probs`);
    let tokens: Int32Array | undefined;
    if (r.tokens !== undefined) {
      if (!Array.isArray(r.tokens) || r.tokens.length !== n || !r.tokens.every((x) => Number.isInteger(x))) fail(`${at}.tokens: must be ${n} integers`);
      tokens = Int32Array.from(r.tokens as number[]);
    }
    batch.push({ group: String(r.group), reward: r.reward, length: n, truncated: r.truncated === true, logpOld: lo, ...(lr ? { logpRef: lr } : {}), ...(tokens ? { tokens } : {}) });
    logp.push(lp);
  });
  const res = obj.loss(batch, logp, cfg);
  return { loss: res.loss, grad: res.grad.map((g) => Array.from(g)), metrics: res.metrics };
}
