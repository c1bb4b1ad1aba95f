// Atomic writes and careful reads: checksums of what was written, the clean-up of temporary
// files left by dead processes (never a live writer's), folder swaps that survive a crash between
// their renames, reads that name the file and line, and a full disk on a real tiny tmpfs.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { CorruptFileError, DiskFullError, readJsonFile, readJsonlFile, recoverDir, removeStaleTemps, replaceDirAtomic, tempOwner, tempPathFor, writeFileAtomic } from '../../harness/util/fs.ts';
import { readChecksums, verifyChecksum, writeChecksums } from '../../harness/util/checksums.ts';
import { printable } from '../../harness/util/errors.ts';
import { mountTmpfs } from './helpers.ts';
import { HOST_TAG } from '../../harness/util/host.ts';

const dir = mkdtempSync(join(tmpdir(), 'rlbench-fs-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('writeFileAtomic returns the sha256 of what it wrote and leaves no temporary file', () => {
  const w = writeFileAtomic(join(dir, 'a.txt'), 'hello');
  assert.equal(w.sha256, createHash('sha256').update('hello').digest('hex'));
  assert.equal(w.bytes, 5);
  assert.deepEqual(readdirSync(dir), ['a.txt']);
  assert.match(tempPathFor(join(dir, 'a.txt')), new RegExp(`/\\.a\\.txt\\.tmp-${process.pid}-${HOST_TAG.replace(/\./g, '\\.')}$`));
});

test('temporary files of dead or old writers are removed; a live writer\'s and foreign fresh ones stay', () => {
  const d = join(dir, 'temps');
  mkdirSync(d);
  const dead = spawnSync('true').pid!;
  const live = spawn('sleep', ['30']);
  try {
    const names = {
      deadFile: `.run.json.tmp-${dead}-${HOST_TAG}`,
      deadDir: `.checkpoint.tmp-${dead}-${HOST_TAG}`,
      oldFormatFile: `.eval.jsonl.${dead}.1700000000000.tmp`,
      oldFormatDir: `.checkpoint.tmp-${dead}`,
      oldFormatSft: `sft-0123456789abcdef.tmp-${dead}`,
      liveFile: `.run.json.tmp-${live.pid}-${HOST_TAG}`,
      mine: `.x.tmp-${process.pid}-${HOST_TAG}`,
      foreignFresh: `.run.json.tmp-${dead}-elsewhere`,
      foreignOld: `.metrics.jsonl.tmp-${dead}-elsewhere`,
      notTemp: 'run.json',
    };
    for (const [k, n] of Object.entries(names)) {
      if (k.endsWith('Dir') || k === 'oldFormatSft') {
        mkdirSync(join(d, n));
        writeFileSync(join(d, n, 'policy.onnx'), 'x');
      } else writeFileSync(join(d, n), 'x');
    }
    const old = new Date(Date.now() - 2 * 3600_000);
    utimesSync(join(d, names.foreignOld), old, old);
    const removed = removeStaleTemps(d).map((p) => p.slice(d.length + 1)).sort();
    assert.deepEqual(removed, [names.deadFile, names.deadDir, names.oldFormatFile, names.oldFormatDir, names.oldFormatSft, names.foreignOld].sort());
    assert.deepEqual(readdirSync(d).sort(), [names.liveFile, names.mine, names.foreignFresh, names.notTemp].sort());
  } finally {
    live.kill();
  }
  assert.deepEqual(tempOwner(`.a.tmp-12-${HOST_TAG}`), { pid: 12, host: HOST_TAG });
  assert.equal(tempOwner('policy.onnx'), null);
});

test('a folder swap: complete or previous, and a crash between its two renames is recovered', async () => {
  const ck = join(dir, 'swap', 'checkpoint');
  await replaceDirAtomic(ck, (tmp) => void writeFileAtomic(join(tmp, 'state.json'), '1'));
  await replaceDirAtomic(ck, (tmp) => void writeFileAtomic(join(tmp, 'state.json'), '2'));
  assert.equal(readFileSync(join(ck, 'state.json'), 'utf8'), '2');
  assert.deepEqual(readdirSync(join(dir, 'swap')), ['checkpoint']);
  // A crash after "checkpoint -> .checkpoint.old" and before "tmp -> checkpoint".
  const { renameSync } = await import('node:fs');
  renameSync(ck, join(dir, 'swap', '.checkpoint.old'));
  recoverDir(ck);
  assert.equal(readFileSync(join(ck, 'state.json'), 'utf8'), '2');
  // The next swap after such a crash never deletes the only complete copy first.
  renameSync(ck, join(dir, 'swap', '.checkpoint.old'));
  await replaceDirAtomic(ck, (tmp) => void writeFileAtomic(join(tmp, 'state.json'), '3'));
  assert.equal(readFileSync(join(ck, 'state.json'), 'utf8'), '3');
  assert.deepEqual(readdirSync(join(dir, 'swap')), ['checkpoint']);
  // A failure while filling removes the temporary folder and keeps the old version.
  await assert.rejects(replaceDirAtomic(ck, () => { throw new Error('boom'); }), /boom/);
  assert.deepEqual(readdirSync(join(dir, 'swap')), ['checkpoint']);
});

test('reads name the file, the line and the remedy; control bytes are escaped', () => {
  const p = join(dir, 'r.json');
  assert.equal(readJsonFile(join(dir, 'none.json')), null);
  writeFileSync(p, '{"step": 3, "cur');
  assert.throws(() => readJsonFile(p, 'run with --fresh'), (e: unknown) => {
    assert.ok(e instanceof CorruptFileError);
    assert.match(e.message, /r\.json: truncated or not valid JSON \(.*\); run with --fresh$/);
    return true;
  });
  writeFileSync(p, '');
  assert.throws(() => readJsonFile(p), /r\.json: empty file$/);
  const l = join(dir, 'm.jsonl');
  writeFileSync(l, '{"step":1}\n\n{"step":2}\n{"step":3,"x\x1b[2J');
  assert.throws(() => readJsonlFile(l, 'fix it'), (e: unknown) => {
    assert.ok(e instanceof CorruptFileError);
    assert.equal(e.line, 4);
    assert.match(e.message, /m\.jsonl:4: truncated or not valid JSON/);
    assert.ok(!e.message.includes('\x1b'), 'no raw escape byte in the message');
    return true;
  });
  writeFileSync(l, '{"step":1}\n[1]\n');
  assert.throws(() => readJsonlFile(l), /m\.jsonl:2: not a JSON object/);
  assert.equal(printable('a\x1b[31mb\x00\x9b\n'), 'a\\x1b[31mb\\x00\\x9b\\x0a');
});

test('checksum manifests in sha256sum format; a changed byte names the file', () => {
  const d = join(dir, 'sums');
  const w = writeFileAtomic(join(d, 'policy.onnx'), 'weights');
  writeChecksums(d, { 'policy.onnx': w.sha256 });
  assert.equal(readFileSync(join(d, 'SHA256SUMS'), 'utf8'), `${w.sha256}  policy.onnx\n`);
  const sums = readChecksums(d, 'retrain')!;
  verifyChecksum(d, 'policy.onnx', Buffer.from('weights'), sums, 'retrain');
  assert.throws(() => verifyChecksum(d, 'policy.onnx', Buffer.from('weightz'), sums, 'retrain'), /policy\.onnx: checksum mismatch: the file is damaged .*; retrain$/);
  assert.throws(() => verifyChecksum(d, 'other.bin', Buffer.from(''), sums, 'retrain'), /SHA256SUMS: has no checksum for other\.bin/);
  writeFileSync(join(d, 'SHA256SUMS'), 'garbage\n');
  assert.throws(() => readChecksums(d, 'retrain'), /SHA256SUMS:1: not a sha256sum line; retrain/);
  assert.equal(readChecksums(join(dir, 'nowhere'), ''), null);
});

test('a full disk: one clear error, the old file intact, no temporary file left (tiny tmpfs)', async (t) => {
  const m = mountTmpfs('64k');
  if (typeof m === 'string') return t.skip(m);
  try {
    const file = join(m.path, 'summary.csv');
    writeFileAtomic(file, 'old contents\n');
    const big = new Uint8Array(200_000).fill(65);
    assert.throws(() => writeFileAtomic(file, big), (e: unknown) => {
      assert.ok(e instanceof DiskFullError);
      assert.equal(e.message, `disk full while writing ${file}; nothing was lost; free space and run again`);
      assert.equal(e.exitCode, 1);
      return true;
    });
    assert.equal(readFileSync(file, 'utf8'), 'old contents\n');
    assert.deepEqual(readdirSync(m.path), ['summary.csv']);
    const ck = join(m.path, 'run', 'checkpoint');
    await assert.rejects(
      replaceDirAtomic(ck, (tmp) => {
        writeFileAtomic(join(tmp, 'policy.json'), '{}');
        writeFileAtomic(join(tmp, 'policy.onnx'), big);
      }),
      new RegExp(`^DiskFullError: disk full while writing ${ck}/policy\\.onnx; nothing was lost`),
    );
    assert.deepEqual(readdirSync(join(m.path, 'run')), [], 'the half-built checkpoint folder is gone');
    assert.equal(existsSync(ck), false);
  } finally {
    m.unmount();
  }
});
