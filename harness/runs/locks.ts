// Locks on a shared results folder, so that many processes on many machines can work on one
// experiment: a per-run lock (two processes never train the same run), the experiment lock
// (experiment.json, the SFT rows and summary.csv/curves.csv have one writer at a time) and the
// SFT lock (a warm start is trained once, never raced).
//
// INTERIM IMPLEMENTATION, to be replaced by harness/util/lock.ts of the reliability branch.
// Every caller in the harness goes through the exported functions below, so the swap is this one
// file: keep the signatures, reimplement the bodies on util/lock.ts.
//
// A lock is a file created with O_CREAT|O_EXCL (atomic on local filesystems and on NFSv3+),
// holding its holder's host, PID and start time. The holder touches the file's mtime every
// HEARTBEAT_S seconds. A lock is stale, and may be taken over, when its heartbeat is older than
// STALE_S seconds (any host: a crashed node stops beating) or its holder is a dead PID on this
// host (a kill -9 here is seen at once).
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { RunError } from '../util/errors.ts';

/** RLBENCH_LOCK_STALE_S overrides it (tests); the default leaves room for a loaded NFS server and a busy event loop. */
export const STALE_S = Number(process.env.RLBENCH_LOCK_STALE_S) > 0 ? Number(process.env.RLBENCH_LOCK_STALE_S) : 60;
export const HEARTBEAT_S = Math.min(10, STALE_S / 4);

export interface LockHolder {
  host: string;
  pid: number;
  /** When the holder took the lock (ISO). */
  since: string;
  /** What the lock guards, for messages ("run grpo-s1", "SFT warm start"). */
  what: string;
  token: string;
}

export interface LockInfo extends LockHolder {
  /** Seconds since the holder's last heartbeat. */
  heartbeatAge: number;
  /** Whether the holder is still there: false when stale by the rules above. */
  live: boolean;
}

export interface HeldLock {
  path: string;
  release(): void;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The lock's holder, or null when the path holds no lock. */
export function readLock(path: string): LockInfo | null {
  let text: string;
  let mtimeMs: number;
  try {
    mtimeMs = statSync(path).mtimeMs;
    text = readFileSync(path, 'utf8');
  } catch {
    return null;
  }
  const heartbeatAge = Math.max(0, (Date.now() - mtimeMs) / 1000);
  let h: Partial<LockHolder> = {};
  try {
    h = JSON.parse(text) as Partial<LockHolder>;
  } catch {
    // Created but not yet written (the holder is between open and write): live until stale.
  }
  const holder: LockHolder = { host: h.host ?? '?', pid: h.pid ?? 0, since: h.since ?? new Date(mtimeMs).toISOString(), what: h.what ?? '?', token: h.token ?? '' };
  const deadHere = holder.host === hostname() && holder.pid > 0 && !pidAlive(holder.pid);
  return { ...holder, heartbeatAge, live: heartbeatAge <= STALE_S && !deadHere };
}

export function describeHolder(h: LockInfo): string {
  return `${h.host} PID ${h.pid} since ${h.since} (heartbeat ${h.heartbeatAge.toFixed(0)} s ago)`;
}

/** Removes a stale lock, but only the one judged stale: a fresh lock taken meanwhile stays. */
function breakStale(path: string, stale: LockInfo): void {
  const aside = `${path}.stale-${randomBytes(4).toString('hex')}`;
  try {
    renameSync(path, aside);
  } catch {
    return; // someone else broke it first
  }
  const moved = readLock(aside);
  if (moved && moved.token !== stale.token && moved.live) {
    // We moved a lock taken after our check: put it back unless yet another one appeared.
    if (!existsSync(path)) renameSync(aside, path);
    else rmSync(aside, { force: true });
    return;
  }
  rmSync(aside, { force: true });
}

/** Takes the lock at `path` now, or returns its live holder. Stale locks are taken over. */
export function tryLock(path: string, what: string): HeldLock | { holder: LockInfo } {
  mkdirSync(dirname(path), { recursive: true });
  for (let attempt = 0; attempt < 5; attempt++) {
    const holder: LockHolder = { host: hostname(), pid: process.pid, since: new Date().toISOString(), what, token: randomBytes(8).toString('hex') };
    let fd: number;
    try {
      fd = openSync(path, 'wx');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const cur = readLock(path);
      if (cur === null) continue; // released between open and read
      if (cur.live) return { holder: cur };
      breakStale(path, cur);
      continue;
    }
    writeSync(fd, JSON.stringify(holder) + '\n');
    closeSync(fd);
    const beat = setInterval(() => {
      try {
        const now = new Date();
        utimesSync(path, now, now);
      } catch {
        // The file is gone (broken as stale by someone else): nothing left to refresh.
      }
    }, HEARTBEAT_S * 1000);
    beat.unref();
    let released = false;
    return {
      path,
      release() {
        if (released) return;
        released = true;
        clearInterval(beat);
        // Only our own lock is removed, never one that replaced it.
        const cur = readLock(path);
        if (cur && cur.token === holder.token) rmSync(path, { force: true });
      },
    };
  }
  throw new RunError(`cannot take the lock ${path}: it keeps changing hands`);
}

/** Waits for the lock (polling), telling `onWait` once who holds it. */
export async function lock(path: string, what: string, onWait?: (holder: LockInfo) => void, pollMs = 500): Promise<HeldLock> {
  let told = false;
  for (;;) {
    const r = tryLock(path, what);
    if ('release' in r) return r;
    if (!told) onWait?.(r.holder);
    told = true;
    await new Promise((res) => setTimeout(res, pollMs));
  }
}

async function withLock<T>(path: string, what: string, fn: () => T | Promise<T>, onWait?: (h: LockInfo) => void): Promise<T> {
  const held = await lock(path, what, onWait);
  try {
    return await fn();
  } finally {
    held.release();
  }
}

// ---- The interface the harness uses (keep these signatures when swapping the implementation) ----

export function runLockPath(expDir: string, run: string): string {
  return join(expDir, '.locks', `${run}.lock`);
}

function experimentLockPath(expDir: string): string {
  return join(expDir, '.locks', 'experiment.lock');
}

export function sftLockPath(cacheRoot: string, hash: string): string {
  return join(cacheRoot, `sft-${hash}.lock`);
}

/**
 * Claims a run for this process. When another live process holds it: with `wait`, waits up to
 * the stale limit (a task requeued after its node died finds the old lock going stale), then
 * throws a RunError naming the holder; without, returns the holder at once.
 */
export async function claimRun(expDir: string, run: string, opts: { wait: boolean; log?: (m: string) => void }): Promise<HeldLock | { holder: LockInfo }> {
  const path = runLockPath(expDir, run);
  const deadline = Date.now() + (STALE_S + HEARTBEAT_S) * 1000;
  let told = false;
  for (;;) {
    const r = tryLock(path, `run ${run}`);
    if ('release' in r || !opts.wait) return r;
    if (Date.now() > deadline) {
      throw new RunError(`${run} is being trained by ${describeHolder(r.holder)}; not starting a second copy (lock ${path}; it is taken over once its heartbeat is ${STALE_S} s old)`);
    }
    if (!told) opts.log?.(`${run}: held by ${describeHolder(r.holder)}; waiting up to ${STALE_S + HEARTBEAT_S} s for it to finish or go stale`);
    told = true;
    await new Promise((res) => setTimeout(res, 1000));
  }
}

/** The holder of a run's lock (live or stale), or null when nobody holds it. */
export function readRunLock(expDir: string, run: string): LockInfo | null {
  return readLock(runLockPath(expDir, run));
}

/** Runs `fn` holding the experiment lock: one writer of the experiment-level files at a time. */
export function withExperimentLock<T>(expDir: string, fn: () => T | Promise<T>, log?: (m: string) => void): Promise<T> {
  return withLock(experimentLockPath(expDir), 'experiment files', fn, (h) => log?.(`waiting for the experiment lock held by ${describeHolder(h)}`));
}

/**
 * Runs `fn` (which trains or loads the SFT cache entry `hash`) holding that entry's lock. A
 * finished entry appears whole, by rename, so once it exists it is loaded without the lock: a
 * hundred array tasks starting together do not queue to read it.
 */
export async function withSftLock<T>(cacheRoot: string, hash: string, fn: () => T | Promise<T>, log?: (m: string) => void): Promise<T> {
  if (existsSync(join(cacheRoot, `sft-${hash}`, 'sft.json'))) return fn();
  return withLock(sftLockPath(cacheRoot, hash), 'SFT warm start', fn, (h) => log?.(`sft: waiting: the warm start is being trained by ${describeHolder(h)}`));
}
