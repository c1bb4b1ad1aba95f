// The objectives registry: the built-in objectives by id, user plugins loaded by path, and
// config resolution (ajv: defaults filled, unknown keys rejected, errors that name the field,
// then each objective's derived defaults). Every config reaches an objective through here.
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { UsageError } from '../harness/util/errors.ts';
import { dapo } from './dapo.ts';
import { grpo } from './grpo.ts';
import { onlineDpo } from './online-dpo.ts';
import { rence } from './rence.ts';
import type { Objective, ObjectiveContext } from './types.ts';

const BUILT_IN: readonly Objective[] = [rence, grpo, dapo, onlineDpo];

export function listObjectives(): Objective[] {
  return [...BUILT_IN];
}

export function getObjective(id: string): Objective {
  const o = BUILT_IN.find((x) => x.id === id);
  if (!o) throw new UsageError(`unknown objective "${id}" (known: ${BUILT_IN.map((x) => x.id).join(', ')}; or give a plugin path such as ./my-objective.ts)`);
  return o;
}

/** A reference names a plugin file when it looks like a path rather than an id. */
export function isPluginPath(ref: string): boolean {
  return ref.includes('/') || ref.includes('\\') || /\.(m?[jt]s|cjs|cts|mts)$/.test(ref);
}

/** A built-in id or a plugin path (resolved against `baseDir`, default the working directory). */
export async function resolveObjective(ref: string, baseDir: string = process.cwd()): Promise<Objective> {
  return isPluginPath(ref) ? loadObjectivePlugin(ref, baseDir) : getObjective(ref);
}

const ID_RE = /^[a-z0-9][a-z0-9-]*$/;

/**
 * Loads a user module whose default export (or `objective` export) is an Objective, and checks
 * its shape. A relative path is resolved against `baseDir` (default: the working directory).
 */
export async function loadObjectivePlugin(modulePath: string, baseDir: string = process.cwd()): Promise<Objective> {
  const abs = resolve(baseDir, modulePath);
  if (!existsSync(abs)) throw new UsageError(`objective plugin ${modulePath}: file not found (${abs})`);
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(abs).href)) as Record<string, unknown>;
  } catch (e) {
    // The plugin's own error, whole: a syntax error names its line; a throw at import gets the
    // plugin's frame from the stack.
    const msg = e instanceof Error ? e.message : String(e);
    const frame = e instanceof Error ? e.stack?.split('\n').find((l) => l.includes(abs) && /:\d+:\d+/.test(l) && !msg.includes(l.trim())) : undefined;
    throw new UsageError(`objective plugin ${modulePath}: cannot be loaded: ${msg}${frame ? ` (${frame.trim().replace(/^at /, 'at ')})` : ''}`);
  }
  // A `.ts` file in a folder whose package.json does not say "type": "module" is compiled to
  // CommonJS; importing it then gives { default: module.exports }, one level too deep.
  const inner = mod.default as Record<string, unknown> | undefined;
  if (inner && typeof inner === 'object' && !('loss' in inner) && ('default' in inner || 'objective' in inner)) mod = inner;
  const cand = (mod.default ?? mod.objective) as Record<string, unknown> | undefined;
  const where = `objective plugin ${modulePath}`;
  if (cand === undefined || cand === null || typeof cand !== 'object') {
    throw new UsageError(`${where}: must have a default export or an \`objective\` export that is an Objective object (found exports: ${Object.keys(mod).join(', ') || 'none'})`);
  }
  const problems: string[] = [];
  if (typeof cand.id !== 'string' || !ID_RE.test(cand.id)) problems.push(`id must be a lower-case string of letters, digits and dashes (got ${JSON.stringify(cand.id)})`);
  else if (BUILT_IN.some((b) => b.id === cand.id)) problems.push(`id "${cand.id}" is taken by a built-in objective`);
  if (typeof cand.title !== 'string' || !cand.title) problems.push('title must be a non-empty string');
  if (typeof cand.reference !== 'string' || !cand.reference) problems.push('reference must be a non-empty string (the paper it implements)');
  if (typeof cand.needsReference !== 'function') problems.push('needsReference must be a function (cfg) => boolean');
  if (typeof cand.loss !== 'function') problems.push('loss must be a function (batch, logp, cfg) => { loss, grad, metrics }');
  if (cand.filter !== undefined && typeof cand.filter !== 'function') problems.push('filter, when given, must be a function (groups, cfg) => groups');
  if (cand.finalizeConfig !== undefined && typeof cand.finalizeConfig !== 'function') problems.push('finalizeConfig, when given, must be a function (cfg, where) => cfg');
  const schema = cand.schema as Record<string, unknown> | undefined;
  if (!schema || typeof schema !== 'object') problems.push('schema must be a JSON Schema object');
  else {
    if (schema.type !== 'object') problems.push('schema.type must be "object"');
    if (schema.additionalProperties !== false) problems.push('schema.additionalProperties must be false, so unknown settings are rejected');
    if (problems.length === 0) {
      try {
        validatorFor(schema);
      } catch (e) {
        problems.push(`schema does not compile: ${(e as Error).message}`);
      }
    }
  }
  if (problems.length) throw new UsageError(`${where}: not a valid objective:\n  - ${problems.join('\n  - ')}`);
  return cand as unknown as Objective;
}

const ajv = new Ajv({ useDefaults: true, allErrors: true, strict: false });
const compiled = new WeakMap<object, ValidateFunction>();

function validatorFor(schema: object): ValidateFunction {
  let v = compiled.get(schema);
  if (!v) {
    v = ajv.compile(schema);
    compiled.set(schema, v);
  }
  return v;
}

/** The setting names a schema allows. */
function settingNames(schema: Record<string, unknown>): string[] {
  return Object.keys((schema.properties as Record<string, unknown> | undefined) ?? {});
}

function describeError(e: ErrorObject, where: string, schema: Record<string, unknown>): string {
  const field = where + e.instancePath.replace(/\//g, '.');
  switch (e.keyword) {
    case 'additionalProperties': {
      const extra = (e.params as { additionalProperty: string }).additionalProperty;
      return `${field}.${extra}: unknown setting (allowed: ${settingNames(schema).join(', ') || 'none'})`;
    }
    case 'required':
      return `${field}.${(e.params as { missingProperty: string }).missingProperty}: required setting is missing`;
    case 'enum':
      return `${field}: must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}`;
    default:
      return `${field}: ${e.message ?? 'invalid'}`;
  }
}

/**
 * Validates `raw` (the objective's settings from a config file; undefined means {}) against the
 * objective's schema, fills defaults, rejects unknown keys, then applies derived defaults
 * (`ctx`: what the experiment fixes, e.g. the rollout token limit).
 * Errors name `where` and the field, e.g. `objectives[2].config.lossAgg: must be one of …`.
 */
export function resolveObjectiveConfig<C>(obj: Objective<C>, raw: unknown, where: string, ctx?: ObjectiveContext): C {
  if (raw === undefined || raw === null) raw = {};
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new UsageError(`${where}: settings of objective "${obj.id}" must be an object, got ${Array.isArray(raw) ? 'an array' : typeof raw}`);
  }
  const cfg = structuredClone(raw) as Record<string, unknown>;
  const validate = validatorFor(obj.schema);
  if (!validate(cfg)) {
    const msgs = [...new Set((validate.errors ?? []).map((e) => describeError(e, where, obj.schema)))];
    throw new UsageError(msgs.length === 1 ? msgs[0] : `invalid settings for objective "${obj.id}":\n  ${msgs.join('\n  ')}`);
  }
  return obj.finalizeConfig ? obj.finalizeConfig(cfg as C, where, ctx) : (cfg as C);
}

/** The schema's default values (what `objective list` shows); derived defaults are described, not computed. */
export function schemaDefaults(obj: Objective): Record<string, unknown> {
  const props = (obj.schema.properties as Record<string, Record<string, unknown>> | undefined) ?? {};
  const out: Record<string, unknown> = {};
  for (const [k, p] of Object.entries(props)) if ('default' in p) out[k] = p.default;
  return out;
}
