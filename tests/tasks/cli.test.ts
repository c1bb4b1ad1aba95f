// `rlbench grade` and `rlbench data`, run in-process on a program holding only this group's
// commands (so other groups' work in progress cannot break these tests), with main()'s error
// handling: a reportable error prints `rlbench: error: …` and gives its exit code.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command, CommanderError } from 'commander';
import { registerTaskCommands } from '../../harness/cli/tasks.ts';
import { isReportable } from '../../harness/util/errors.ts';

async function main(argv: string[]): Promise<number> {
  const program = new Command('rlbench').exitOverride().configureOutput({ writeErr: (s) => process.stderr.write(s) });
  registerTaskCommands(program);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    if (isReportable(e)) {
      process.stderr.write(`rlbench: error: ${e.message}\n`);
      return e.exitCode;
    }
    throw e;
  }
}

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '', err = '';
  const ow = process.stdout.write.bind(process.stdout), ew = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((s: string) => ((out += s), true)) as typeof process.stdout.write;
  process.stderr.write = ((s: string) => ((err += s), true)) as typeof process.stderr.write;
  try {
    const code = await main(args);
    return { code, out, err };
  } finally {
    process.stdout.write = ow;
    process.stderr.write = ew;
    process.exitCode = undefined;
  }
}

test('grade --pred --gold prints {correct, extracted, stage}', async () => {
  let r = await run(['grade', '--pred', 'so $\\boxed{\\dfrac{1}{2}}$', '--gold', '0.5']);
  assert.equal(r.code, 0);
  assert.deepEqual(JSON.parse(r.out), { correct: true, extracted: '\\dfrac{1}{2}', stage: 'boxed' });
  r = await run(['grade', '--pred', 'it is 7', '--gold', '7']);
  assert.deepEqual(JSON.parse(r.out), { correct: false, extracted: null, stage: null });
  r = await run(['grade', '--pred', 'it is 7', '--gold', '7', '--last-number']);
  assert.deepEqual(JSON.parse(r.out), { correct: true, extracted: '7', stage: 'number' });
  r = await run(['grade', '--pred', 'so it is $\\frac{7}{1}$', '--gold', '7', '--grader', 'math-verify']);
  assert.deepEqual(JSON.parse(r.out), { correct: true, extracted: '\\frac{7}{1}', stage: 'latex' });
  r = await run(['grade', '--pred', 'x']);
  assert.equal(r.code, 2);
  assert.match(r.err, /rlbench: error: give --pred and --gold/);
  r = await run(['grade', '--pred', 'x', '--gold', '1', '--grader', 'nope']);
  assert.equal(r.code, 2);
  assert.match(r.err, /unknown grader 'nope'/);
});

test('grade --input: one result per line; a malformed line names file and line, nothing written', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rlbench-grade-'));
  try {
    const good = join(dir, 'in.jsonl');
    writeFileSync(good, ['{"pred":"#### 1,000","gold":"1000"}', '{"pred":"\\\\boxed{(1,2)}","gold":"(2,1)"}', '{"pred":"the answer is 27.","gold":27}'].join('\n') + '\n');
    let r = await run(['grade', '--input', good]);
    assert.equal(r.code, 0);
    assert.deepEqual(r.out.trim().split('\n').map((l) => JSON.parse(l)), [
      { correct: true, extracted: '1,000', stage: 'final-answer' },
      { correct: false, extracted: '(1,2)', stage: 'boxed' },
      { correct: true, extracted: '27', stage: 'final-answer' },
    ]);
    const outFile = join(dir, 'out.jsonl');
    r = await run(['grade', '--input', good, '--output', outFile]);
    assert.equal(r.code, 0);
    assert.equal(readFileSync(outFile, 'utf8').trim().split('\n').length, 3);

    const bad = join(dir, 'bad.jsonl');
    writeFileSync(bad, '{"pred":"1","gold":"1"}\n{"pred":"1" "gold":"1"}\n');
    const badOut = join(dir, 'bad-out.jsonl');
    r = await run(['grade', '--input', bad, '--output', badOut]);
    assert.equal(r.code, 2);
    assert.match(r.err, new RegExp(`${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:2: malformed JSON`));
    assert.equal(existsSync(badOut), false);
    writeFileSync(bad, '{"pred":"1"}\n');
    r = await run(['grade', '--input', bad]);
    assert.match(r.err, /bad.jsonl:1: missing field 'gold'/);
    assert.equal(r.out, '');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('data list and data show', async () => {
  let r = await run(['data', 'list', '--json']);
  const names = (JSON.parse(r.out) as { name: string }[]).map((b) => b.name);
  assert.deepEqual(names.slice(0, 6), ['arith-id', 'arith-hard', 'arith-carry', 'arith-long', 'arith-chain', 'arith-mix']);
  assert.ok(names.includes('math500') && names.includes('gsm8k_train'));
  r = await run(['data', 'show', 'arith-id', '--limit', '3']);
  const rows = r.out.trim().split('\n').map((l) => JSON.parse(l) as { id: string; prompt: string; target: string; answer: string });
  assert.equal(rows.length, 3);
  assert.equal(rows[0]!.id, 'arith-id/0');
  assert.ok(rows.every((x) => x.target.endsWith(`#### ${x.answer}`) && x.prompt.endsWith('=')));
  const data = process.env.RLBENCH_DATA_DIR ?? join(import.meta.dirname, '../../../shared/datasets');
  r = await run(['data', 'show', 'aime24', '--limit', '2', '--data-dir', data]);
  assert.equal(r.out.trim().split('\n').length, 2);
  assert.equal(JSON.parse(r.out.split('\n')[0]!).id, 'aime24/60');
  r = await run(['data', 'show', 'arith-id', '--limit', 'x']);
  assert.equal(r.code, 2);
  assert.match(r.err, /--limit must be a non-negative integer, got 'x'/);
  r = await run(['data', 'show', 'math500', '--data-dir', '/nonexistent']);
  assert.equal(r.code, 2);
  assert.match(r.err, /\/nonexistent\/math500\/test.jsonl: cannot read dataset file/);
});
