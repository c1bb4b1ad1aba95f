// Plugins outside this package load by path in the documented `export default` style, from any
// folder: the shipped example copied elsewhere (through bin/rlbench.js, as a user runs it, and in
// process), `.ts` in a folder whose package.json says "commonjs", `.mts`, a plugin importing its
// own helper module. Their own errors come through whole, naming the file: a syntax error with
// its line, a throw at import with the plugin's frame, a bad schema.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadObjectivePlugin } from '../../objectives/registry.ts';
import { rlbench } from '../util/helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'rlbench-plugin-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const example = join(process.cwd(), 'objectives/examples/reinforce-baseline.ts');
const batch = {
  config: { leaveOneOut: false },
  rollouts: [
    { group: 'p0', reward: 1, length: 1, logp: [-1], logpOld: [-1] },
    { group: 'p0', reward: 0, length: 1, logp: [-2], logpOld: [-2] },
  ],
};

test('the shipped example copied to another folder runs through bin/rlbench.js, as in the repository', async () => {
  const copy = join(dir, 'my-objective.ts');
  copyFileSync(example, copy);
  const input = join(dir, 'batch.json');
  writeFileSync(input, JSON.stringify({ ...batch, objective: './my-objective.ts' }));
  const r = await rlbench(['objective', 'eval', '--input', input], { cwd: dir });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { loss: -0.25, grad: [[-0.25], [0.25]], metrics: { advAbsMean: 0.5 } });
});

test('a plugin that throws at import: its message and its own frame, through bin/rlbench.js', async () => {
  const path = join(dir, 'throws.ts');
  writeFileSync(path, 'const table = new Map<string, number>();\nfunction init(): void {\n  throw new Error(`missing table ${table.size}`);\n}\ninit();\nexport default {};\n');
  const input = join(dir, 'throws.json');
  writeFileSync(input, JSON.stringify({ ...batch, objective: path }));
  const r = await rlbench(['objective', 'eval', '--input', input], { cwd: dir });
  assert.equal(r.code, 2);
  assert.match(r.stderr, new RegExp(`^rlbench: error: objective: objective plugin ${path}: cannot be loaded: missing table 0 \\(at init \\(${path}:3:\\d+\\)\\)\\n$`));
});

test('from any folder: .ts under a "commonjs" package.json, .mts, and a plugin importing its own helper', async () => {
  const cjs = join(dir, 'cjs-pkg');
  mkdirSync(cjs);
  writeFileSync(join(cjs, 'package.json'), '{ "type": "commonjs" }');
  copyFileSync(example, join(cjs, 'rb.ts'));
  copyFileSync(example, join(dir, 'rb.mts'));
  const src = readFileSync(example, 'utf8');
  mkdirSync(join(dir, 'lib'));
  writeFileSync(join(dir, 'lib', 'baseline.ts'), 'export const PLUGIN_ID = "reinforce-with-helper";\n');
  writeFileSync(join(dir, 'helper.ts'), src.replace(/^import type .*$/m, (l) => `${l}\nimport { PLUGIN_ID } from './lib/baseline.ts';`).replace("id: 'reinforce-baseline'", 'id: PLUGIN_ID'));
  for (const [p, id] of [[join(cjs, 'rb.ts'), 'reinforce-baseline'], [join(dir, 'rb.mts'), 'reinforce-baseline'], [join(dir, 'helper.ts'), 'reinforce-with-helper']] as const) {
    const o = await loadObjectivePlugin(p);
    assert.equal(o.id, id, p);
    assert.equal(typeof o.loss, 'function');
  }
});

test('a plugin\'s syntax error names its file and line; a bad schema is listed', async () => {
  const syntax = join(dir, 'syntax.ts');
  writeFileSync(syntax, 'export default {\n  id: "x",\n  title: ,\n};\n');
  await assert.rejects(loadObjectivePlugin(syntax), new RegExp(`objective plugin ${syntax}: cannot be loaded: .*${syntax}:3:9: ERROR: Unexpected ","`, 's'));
  const schema = join(dir, 'schema.ts');
  writeFileSync(schema, readFileSync(example, 'utf8').replace('    additionalProperties: false,', '    additionalProperties: true,'));
  await assert.rejects(loadObjectivePlugin(schema), /schema\.ts: not a valid objective:\n {2}- schema\.additionalProperties must be false/);
});
