// Dataset files as users have them: a 0-byte file is an error naming the file, the same for
// `data show` and `run`; a UTF-8 byte-order mark is accepted; control bytes of a broken line are
// escaped in the message, so the terminal never receives them raw.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command, CommanderError } from 'commander';
import { registerTaskCommands } from '../../harness/cli/tasks.ts';
import { isReportable } from '../../harness/util/errors.ts';
import { readJsonl } from '../../harness/tasks/datasets.ts';
import { runExperimentFile } from '../../harness/runs/runner.ts';

const dir = mkdtempSync(join(tmpdir(), 'rlbench-dsfiles-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const file = join(dir, 'math500', 'test.jsonl');
mkdirSync(join(dir, 'math500'));
const record = { unique_id: 'test/x/1.json', problem: 'What is $1+1$?', answer: '2', solution: 'It is $\\boxed{2}$.', subject: 'x', level: 1 };

/** `rlbench data …` in process, with main()'s error handling. */
async function rlbench(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const program = new Command('rlbench').exitOverride();
  registerTaskCommands(program);
  const ow = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((s: string) => ((out += s), true)) as typeof process.stdout.write;
  try {
    await program.parseAsync(args, { from: 'user' });
    return { code: 0, out, err };
  } catch (e) {
    if (e instanceof CommanderError) return { code: e.exitCode === 0 ? 0 : 2, out, err };
    if (isReportable(e)) {
      err += `rlbench: error: ${e.message}\n`;
      return { code: e.exitCode, out, err };
    }
    throw e;
  } finally {
    process.stdout.write = ow;
  }
}

test('a 0-byte dataset file: `data show` and `run` both refuse it, naming the file', async () => {
  writeFileSync(file, '');
  const shown = await rlbench(['data', 'show', 'math500', '--data-dir', dir]);
  assert.equal(shown.code, 2);
  assert.equal(shown.out, '');
  assert.equal(shown.err, `rlbench: error: ${file}: empty file (expected one JSON object per line)\n`);
  const exp = join(dir, 'exp.json');
  writeFileSync(exp, JSON.stringify({ name: 'x', objectives: [{ id: 'grpo' }], benchmarks: [{ name: 'math500', path: file }] }));
  await assert.rejects(runExperimentFile(exp, { outputRoot: join(dir, 'out'), log: () => {} }), new RegExp(`${file}: empty file \\(expected one JSON object per line\\)`));
  writeFileSync(file, '\ufeff\n');
  assert.throws(() => readJsonl(file), /empty file/, 'a file holding only a BOM and a newline is empty too');
});

test('a UTF-8 byte-order mark is accepted', async () => {
  writeFileSync(file, '\ufeff' + JSON.stringify(record) + '\r\n' + JSON.stringify({ ...record, unique_id: 'test/x/2.json' }) + '\r\n');
  const shown = await rlbench(['data', 'show', 'math500', '--data-dir', dir]);
  assert.equal(shown.code, 0, shown.err);
  assert.deepEqual(shown.out.trim().split('\n').map((l) => JSON.parse(l).id), ['test/x/1.json', 'test/x/2.json']);
});

test('control bytes from a broken line are escaped in the message', async () => {
  writeFileSync(file, JSON.stringify(record) + '\n{"unique_id": \x1b[2J\x1b]0;pwned\x07 }\n');
  const shown = await rlbench(['data', 'show', 'math500', '--data-dir', dir]);
  assert.equal(shown.code, 2);
  assert.match(shown.err, new RegExp(`^rlbench: error: ${file}:2: malformed JSON \\(.*\\\\x1b`));
  assert.ok(!/[\x00-\x08\x0b-\x1f\x7f]/.test(shown.err), `no raw control byte: ${JSON.stringify(shown.err)}`);
  mkdirSync(join(dir, 'aime24'));
  writeFileSync(join(dir, 'aime24', 'test.jsonl'), JSON.stringify({ id: 1, problem: 'p', answer: '1\x9b2' }) + '\n');
  const a = await rlbench(['data', 'show', 'aime24', '--data-dir', dir]);
  assert.match(a.err, /field 'answer' should be an integer, got "1\\x9b2"/);
});
