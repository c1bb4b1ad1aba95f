// `rlbench report` end to end through bin/rlbench.js: writes the report and prints the headline
// table and path; bad input exits 2 with a message that names the problem and writes nothing; on
// a results folder that runners use it waits for the experiment lock, on the fixture it creates
// no lock folder.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { isLock, tryLock } from '../../harness/util/lock.ts';
import { experimentLockPath } from '../../harness/runs/results.ts';
import { runCommands } from '../util/commands.ts';
import { FIXTURE, REPO, scratch } from './helpers.ts';

function rlbench(...args: string[]) {
  const r = spawnSync(process.execPath, [join(REPO, 'bin', 'rlbench.js'), ...args], { cwd: REPO, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('rlbench report <results> --out <dir> writes the report and prints the table', () => {
  const out = join(scratch('cli'), 'fixture');
  const r = rlbench('report', FIXTURE, '--out', out, '--resamples', '500');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /\| ReNCE \| 3 \| \*\*65\.0 ± 12\.4\*\*/);
  assert.ok(r.stdout.includes(`report: ${out}/index.html (12 files)`), r.stdout);
  assert.match(r.stderr, /rlbench: warning: grpo-s3: failed at step 3/);
  assert.deepEqual(readdirSync(out).filter((f) => f.endsWith('.html') || f.startsWith('table.')).sort(), ['index.html', 'table.csv', 'table.md', 'table.tex']);
  assert.ok(!existsSync(join(FIXTURE, '.locks')), 'no lock folder is created in a folder no runner uses');
});

test('on a results folder that runners use, the report waits for the experiment lock', async () => {
  const live = join(scratch('live'), 'fixture');
  cpSync(FIXTURE, live, { recursive: true });
  mkdirSync(join(live, '.locks'));
  const held = tryLock(experimentLockPath(live), { purpose: 'the summaries of experiment fixture are being written' });
  assert.ok(isLock(held));
  const out = join(scratch('live-out'), 'r');
  const child = spawn(process.execPath, [join(REPO, 'bin', 'rlbench.js'), 'report', live, '--out', out, '--resamples', '200', '-q'], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  let stdout = '';
  child.stdout.on('data', (d) => (stdout += d));
  const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
  await new Promise<void>((res) => child.stderr.on('data', (d) => (stderr += d) && /report: waiting: /.test(stderr) && res()));
  assert.match(stderr, new RegExp(`^report: waiting: the summaries of experiment fixture are being written by pid ${process.pid} on host `));
  assert.ok(!existsSync(out), 'nothing written while the lock is held');
  held.release();
  assert.equal(await exited, 0, stderr);
  assert.ok(stdout.includes(`report: ${out}/index.html`), stdout);
  assert.deepEqual(readdirSync(join(live, '.locks')), [], 'the report released the lock');
});

test('bad input exits 2 with a clear message and writes nothing', () => {
  const parent = scratch('cli-bad');
  const out = join(parent, 'never');
  // One process for the three (tests/util/commands.ts).
  const [missing, empty, resamples] = runCommands([
    ['report', join(parent, 'missing'), '--out', out],
    ['report', parent, '--out', out],
    ['report', FIXTURE, '--out', out, '--resamples', 'many'],
  ]);
  assert.equal(missing!.status, 2);
  assert.match(missing!.stderr, /^rlbench: error: results directory not found: .*missing\n$/);
  assert.equal(empty!.status, 2);
  assert.match(empty!.stderr, /rlbench: error: no runs in .*expected <objective>-s<seed>\/ folders/);
  assert.equal(resamples!.status, 2);
  assert.match(resamples!.stderr, /--resamples must be an integer >= 100, got "many"/);
  assert.ok(!existsSync(out), 'nothing written');
  assert.deepEqual(readdirSync(parent), []);
});
