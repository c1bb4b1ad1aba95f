// Locks: the file format, the heartbeat, a held lock's message, every stale rule (dead PID,
// reused PID, another host's old heartbeat, a copied lock file, an unreadable file), losing a lock
// to a takeover, and mutual exclusion between real processes (a counter incremented with a
// non-atomic read-sleep-write loses no update, starting from a stale lock).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { acquireLock, defaultStaleMs, describeHolder, inspectLock, isLock, LockBusyError, tryLock, withLock, type LockOwner } from '../../harness/util/lock.ts';
import { BOOT_ID, HOST, PID_NS, processStart } from '../../harness/util/host.ts';

const dir = mkdtempSync(join(tmpdir(), 'rlbench-lock-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const fresh = () => join(dir, `l${n++}.lock`);

/** A PID that was just used and is now dead. */
function deadPid(): number {
  return spawnSync('true').pid!;
}

function owner(over: Partial<LockOwner>): LockOwner {
  return { format: 'rlbench-lock/1', purpose: 'run x-s1 is being trained', host: HOST, bootId: BOOT_ID, pidNs: PID_NS, pid: process.pid, pidStart: null, startedAt: '2026-01-01T00:00:00.000Z', token: 'abc', ino: null, command: 'rlbench run e.json', ...over };
}

test('a lock file holds its owner and appears only once; release removes it', async () => {
  const path = fresh();
  const lock = await acquireLock(path, { purpose: 'run a-s1 is being trained' });
  const o = JSON.parse(readFileSync(path, 'utf8')) as LockOwner;
  assert.equal(o.format, 'rlbench-lock/1');
  assert.deepEqual([o.host, o.pid, o.purpose, o.bootId, o.pidNs], [HOST, process.pid, 'run a-s1 is being trained', BOOT_ID, PID_NS]);
  assert.equal(o.pidStart, processStart(process.pid));
  assert.equal(o.ino, statSync(path).ino, 'the inode recorded before the link is the lock file\'s');
  assert.match(o.startedAt, /^\d{4}-\d\d-\d\dT/);
  assert.match(o.token, /^[0-9a-f]{24}$/);
  assert.throws(() => tryLock(path, { purpose: 'again' }), /already held by this process/);
  lock.release();
  assert.equal(existsSync(path), false);
  lock.release();
  const again = tryLock(path, { purpose: 'p' });
  assert.ok(isLock(again));
  again.release();
});

test('the heartbeat refreshes the mtime while the lock is held', async () => {
  const path = fresh();
  await withLock(
    path,
    async () => {
      utimesSync(path, new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
      await new Promise((r) => setTimeout(r, 150));
      assert.ok(Date.now() - statSync(path).mtimeMs < 1000, 'the mtime was refreshed');
    },
    { purpose: 'p', heartbeatMs: 20 },
  );
});

test('a lock held by a live process on this host is busy, and the message names it', async () => {
  const path = fresh();
  const child = spawn('sleep', ['30']);
  try {
    writeFileSync(path, JSON.stringify(owner({ pid: child.pid!, pidStart: processStart(child.pid!), ino: null })));
    const h = tryLock(path, { purpose: 'p' });
    assert.ok(!isLock(h));
    assert.equal(h.stale, null);
    await assert.rejects(acquireLock(path, { purpose: 'p', waitMs: 50, pollMs: 10 }), (e: unknown) => {
      assert.ok(e instanceof LockBusyError);
      assert.match(e.message, new RegExp(`^run x-s1 is being trained by pid ${child.pid} on host ${HOST.replace(/[.]/g, '\\.')} \\(this host\\) since 2026-01-01T00:00:00.000Z \\(heartbeat \\d+ s ago; rlbench run e\\.json\\); that process is still running`));
      return true;
    });
  } finally {
    child.kill();
  }
});

test('stale: a dead PID, a reused PID, a reboot, and a copied lock file are taken over at once', async () => {
  const child = spawn('sleep', ['30']);
  try {
    const cases: [Partial<LockOwner>, RegExp][] = [
      [{ pid: deadPid() }, /pid \d+ on this host is gone/],
      [{ pid: child.pid!, pidStart: 1 }, /pid \d+ on this host is gone/],
      [{ bootId: 'another-boot' }, /has rebooted/],
    ];
    for (const [over, why] of cases) {
      if (over.bootId && BOOT_ID === null) continue; // no boot id on this OS: nothing to compare
      const path = fresh();
      writeFileSync(path, JSON.stringify(owner({ pid: child.pid!, ...over })));
      const reasons: string[] = [];
      const lock = tryLock(path, { purpose: 'p', onTakeover: (_, r) => reasons.push(r) });
      assert.ok(isLock(lock), JSON.stringify(over));
      assert.match(reasons.join(), why);
      assert.equal((JSON.parse(readFileSync(path, 'utf8')) as LockOwner).pid, process.pid);
      lock.release();
    }
    // A results folder copied while a run was going: the lock file is a copy of a live one.
    const live = fresh();
    const held = await acquireLock(live, { purpose: 'p' });
    const copy = fresh();
    copyFileSync(live, copy);
    assert.match(inspectLock(copy)!.stale ?? '', /is a copy/);
    assert.equal(inspectLock(live)!.stale, null);
    held.release();
  } finally {
    child.kill();
  }
});

test('another host: busy while its heartbeat is fresh, stale once older than the limit', () => {
  const path = fresh();
  writeFileSync(path, JSON.stringify(owner({ host: 'node-far-away', pid: 4242 })));
  const h = tryLock(path, { purpose: 'p', staleMs: 60_000 });
  assert.ok(!isLock(h));
  assert.match(describeHolder(h, 60_000), /by pid 4242 on host node-far-away since .*; if that process is gone, the lock is taken over automatically once its heartbeat is 60 s old, or delete .*l\d+\.lock$/);
  const old = new Date(Date.now() - 61_000);
  utimesSync(path, old, old);
  const reasons: string[] = [];
  const lock = tryLock(path, { purpose: 'p', staleMs: 60_000, onTakeover: (_, r) => reasons.push(r) });
  assert.ok(isLock(lock));
  assert.match(reasons[0]!, /heartbeat is 61 s old \(stale after 60 s\)/);
  lock.release();
});

test('RLBENCH_LOCK_STALE_S sets the default stale limit (and a shorter heartbeat); a bad value is refused', () => {
  assert.equal(defaultStaleMs({}), 5 * 60_000);
  assert.equal(defaultStaleMs({ RLBENCH_LOCK_STALE_S: '90' }), 90_000);
  assert.throws(() => defaultStaleMs({ RLBENCH_LOCK_STALE_S: 'soon' }), /RLBENCH_LOCK_STALE_S="soon": expected a number of seconds > 0/);
  assert.throws(() => defaultStaleMs({ RLBENCH_LOCK_STALE_S: '0' }), /expected a number of seconds > 0/);
  const path = fresh();
  writeFileSync(path, JSON.stringify(owner({ host: 'node-far-away', pid: 4242 })));
  const old = new Date(Date.now() - 30_000);
  utimesSync(path, old, old);
  const saved = process.env.RLBENCH_LOCK_STALE_S;
  try {
    assert.ok(!isLock(tryLock(path, { purpose: 'p' })), 'under the 5 min default, a 30 s old heartbeat is live');
    process.env.RLBENCH_LOCK_STALE_S = '20';
    assert.equal(inspectLock(path)!.stale, 'its heartbeat is 30 s old (stale after 20 s)');
    assert.match(describeHolder(inspectLock(path)!), /taken over automatically once its heartbeat is 20 s old/);
    const lock = tryLock(path, { purpose: 'p' });
    assert.ok(isLock(lock), 'with RLBENCH_LOCK_STALE_S=20 it is stale');
    lock.release();
  } finally {
    if (saved === undefined) delete process.env.RLBENCH_LOCK_STALE_S;
    else process.env.RLBENCH_LOCK_STALE_S = saved;
  }
});

test('an unreadable lock file counts as held while young and as stale when old', () => {
  const path = fresh();
  writeFileSync(path, '{"format": "rlbench-lo');
  const h = tryLock(path, { purpose: 'p', staleMs: 60_000 });
  assert.ok(!isLock(h));
  assert.match(describeHolder(h), /cannot be read/);
  const old = new Date(Date.now() - 120_000);
  utimesSync(path, old, old);
  const lock = tryLock(path, { purpose: 'p', staleMs: 60_000 });
  assert.ok(isLock(lock));
  lock.release();
});

test('a holder whose lock is taken over finds out at its next heartbeat and never removes the new one', async () => {
  const path = fresh();
  const lost: unknown[] = [];
  const lock = await acquireLock(path, { purpose: 'p', heartbeatMs: 20, onLost: (by) => lost.push(by) });
  writeFileSync(path, JSON.stringify(owner({ host: 'elsewhere', token: 'theirs' })));
  await new Promise((r) => setTimeout(r, 150));
  assert.equal(lock.lost, true);
  assert.equal(lost.length, 1);
  lock.release();
  assert.equal((JSON.parse(readFileSync(path, 'utf8')) as LockOwner).token, 'theirs', 'the new holder\'s lock stays');
});

test('four processes incrementing a counter under the lock lose no update (starting from a stale lock)', async () => {
  const path = fresh();
  const counter = join(dir, 'counter');
  const events = join(dir, 'events');
  writeFileSync(counter, '0');
  writeFileSync(events, '');
  writeFileSync(path, JSON.stringify(owner({ pid: deadPid() })));
  const worker = join(process.cwd(), 'tests/util/fixtures/lock-worker.ts');
  const runs = Array.from({ length: 4 }, () =>
    new Promise<number | null>((resolve, reject) => {
      const p = spawn(process.execPath, ['--import', 'tsx', worker, path, counter, events, '10'], { stdio: ['ignore', 'ignore', 'inherit'] });
      p.on('error', reject);
      p.on('close', resolve);
    }),
  );
  assert.deepEqual(await Promise.all(runs), [0, 0, 0, 0]);
  assert.equal(readFileSync(counter, 'utf8'), '40');
  const lines = readFileSync(events, 'utf8').trim().split('\n');
  assert.equal(lines.length, 80);
  for (let i = 0; i < lines.length; i += 2) {
    const [a, b] = [lines[i]!.split(' '), lines[i + 1]!.split(' ')];
    assert.deepEqual([a[1], b[1], a[0]], ['in', 'out', b[0]], `critical sections never overlap (line ${i + 1})`);
  }
  assert.ok(new Set(lines.map((l) => l.split(' ')[0])).size === 4, 'every process got its turn');
  assert.equal(existsSync(path), false, 'the last holder removed the lock');
});
