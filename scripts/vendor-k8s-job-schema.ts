// Derives harness/cluster/schema/job-batch-v1.json (the Kubernetes batch/v1 Job as a JSON Schema
// that ajv validates) from the Kubernetes OpenAPI v2 spec, the way yannh/kubernetes-json-schema's
// "strict" flavour does, keeping only what validation needs:
//   - only the definitions reachable from io.k8s.api.batch.v1.Job, by $ref;
//   - no `description` and no `x-kubernetes-*` annotations (documentation, not constraints);
//   - strict: every object with `properties` and no `additionalProperties` gets
//     `additionalProperties: false`, so a misspelt field is an error, as `kubectl apply` (strict
//     field validation) makes it;
//   - IntOrString accepts a string or an integer and Quantity a string or a number (the spec
//     says "string" with a format, but JSON manifests carry `cpu: 2` as a number);
//   - kind and apiVersion are required and pinned to "Job" and "batch/v1".
// Usage: node --import tsx scripts/vendor-k8s-job-schema.ts <swagger.json> [out.json]
import { readFileSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';

type Schema = Record<string, unknown>;
const ROOT = 'io.k8s.api.batch.v1.Job';
const PREFIX = '#/definitions/';

const [input, out = 'harness/cluster/schema/job-batch-v1.json'] = process.argv.slice(2);
if (!input) {
  process.stderr.write('usage: vendor-k8s-job-schema.ts <swagger.json> [out.json]\n');
  process.exit(2);
}
const text = readFileSync(input, 'utf8');
const defs = (JSON.parse(text) as { definitions: Record<string, Schema> }).definitions;

function refsOf(node: unknown, acc: Set<string>): void {
  if (Array.isArray(node)) for (const x of node) refsOf(x, acc);
  else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if (k === '$ref' && typeof v === 'string' && v.startsWith(PREFIX)) acc.add(v.slice(PREFIX.length));
      else refsOf(v, acc);
    }
  }
}

const reachable = new Set<string>([ROOT]);
for (const todo = [ROOT]; todo.length; ) {
  const found = new Set<string>();
  refsOf(defs[todo.pop()!], found);
  for (const name of found) {
    if (!defs[name]) throw new Error(`dangling $ref ${name}`);
    if (!reachable.has(name)) {
      reachable.add(name);
      todo.push(name);
    }
  }
}

function strip(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(strip);
  if (!node || typeof node !== 'object') return node;
  const s = node as Schema;
  const outNode: Schema = {};
  for (const k of Object.keys(s).sort()) {
    if (k === 'description' || k.startsWith('x-kubernetes-')) continue;
    // `properties` maps field names to schemas: recurse into each, keep the names.
    if (k === 'properties') outNode[k] = Object.fromEntries(Object.entries(s[k] as Schema).sort(([a], [b]) => (a < b ? -1 : 1)).map(([name, sub]) => [name, strip(sub)]));
    else outNode[k] = strip(s[k]);
  }
  if (outNode.properties && outNode.additionalProperties === undefined) outNode.additionalProperties = false;
  return outNode;
}

const SPECIAL: Record<string, Schema> = {
  'io.k8s.apimachinery.pkg.util.intstr.IntOrString': { oneOf: [{ type: 'string' }, { type: 'integer' }] },
  'io.k8s.apimachinery.pkg.api.resource.Quantity': { oneOf: [{ type: 'string' }, { type: 'number' }] },
};

const definitions: Record<string, unknown> = {};
for (const name of [...reachable].filter((n) => n !== ROOT).sort()) definitions[name] = SPECIAL[name] ?? strip(defs[name]);
const root = strip(defs[ROOT]) as Schema;
const props = root.properties as Record<string, Schema>;
props.apiVersion = { type: 'string', enum: ['batch/v1'] };
props.kind = { type: 'string', enum: ['Job'] };
const schema = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  $comment: `Kubernetes batch/v1 Job, derived by scripts/vendor-k8s-job-schema.ts from an OpenAPI v2 spec with sha256 ${createHash('sha256').update(text).digest('hex')}; see README.md`,
  ...root,
  required: ['apiVersion', 'kind', ...((root.required as string[]) ?? [])],
  definitions,
};
writeFileSync(out, JSON.stringify(schema, null, 1) + '\n');
process.stdout.write(`${out}: ${reachable.size} definitions, ${JSON.stringify(schema).length} bytes\n`);
