// Locks between processes, on one host or many sharing a network filesystem (NFS): one writer
// per run, per experiment-level file set, per SFT cache entry.
//
// A lock is a small JSON file (format below) that appears atomically: the owner writes a
// temporary file, then link(2)s it to the lock path (atomic on NFS; a lost reply is detected by
// the temporary file's link count, the classic NFS-safe recipe). Where hard links are not
// supported it falls back to an exclusive create (O_EXCL). While held, a timer refreshes the
// file's mtime (the heartbeat) and checks that the file is still ours.
//
// A lock is stale, and taken over, when its holder is provably gone:
// - on this host (same host name, boot and PID namespace): its PID is dead, or was reused by
//   another process (start time differs), or the machine rebooted since;
// - on another host: its heartbeat is older than `staleMs` (default 5 min, well above NFS
//   attribute caching and clock skew; RLBENCH_LOCK_STALE_S=<seconds> changes the default, e.g.
//   for a cluster where a requeued task should take over a lost node's run sooner).
// Taking over is serialised by a short-lived `<lock>.breaking` folder (mkdir is atomic), so two
// processes never both remove one stale lock and then each create their own.
//
// File format (rlbench-lock/1):
//   { "format": "rlbench-lock/1", "purpose": "run grpo-s2 is being trained", "host": "node7",
//     "bootId": "…", "pidNs": "pid:[4026531836]", "pid": 1234, "pidStart": 98765,
//     "startedAt": "2026-11-27T16:30:05.123Z", "token": "<random hex>", "ino": 5678,
//     "command": "rlbench run exp.json" }
// The mtime of the file is the heartbeat. `ino` (the file's inode, recorded before the link)
// tells a lock file copied along with a results folder from the live original.
import { closeSync, fstatSync, fsyncSync, linkSync, lstatSync, mkdirSync, openSync, readFileSync, rmdirSync, rmSync, statSync, unlinkSync, utimesSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { RunError, UsageError } from './errors.ts';
import { asDiskFull } from './fs.ts';
import { HOST_TAG, placeOf, sameProcessAlive, thisProcess, type ProcessPlace } from './host.ts';

export const LOCK_FORMAT = 'rlbench-lock/1';
export const DEFAULT_HEARTBEAT_MS = 15_000;
export const DEFAULT_STALE_MS = 5 * 60_000;

/**
 * The stale limit when a caller gives none: RLBENCH_LOCK_STALE_S seconds where set (read at each
 * call, so a test or a job script can set it per process), else DEFAULT_STALE_MS.
 */
export function defaultStaleMs(env: NodeJS.ProcessEnv = process.env): number {
  const v = env.RLBENCH_LOCK_STALE_S;
  if (v === undefined || v.trim() === '') return DEFAULT_STALE_MS;
  const s = Number(v);
  if (!Number.isFinite(s) || s <= 0) throw new UsageError(`RLBENCH_LOCK_STALE_S=${JSON.stringify(v)}: expected a number of seconds > 0`);
  return s * 1000;
}

/** The heartbeat when a caller gives none: every 15 s, or 4 times per stale limit when that is short. */
function defaultHeartbeatMs(staleMs: number): number {
  return Math.max(50, Math.min(DEFAULT_HEARTBEAT_MS, staleMs / 4));
}

export interface LockOwner extends ProcessPlace {
  format: typeof LOCK_FORMAT;
  /** What the holder is doing, phrased to be followed by "by pid … on host …". */
  purpose: string;
  startedAt: string;
  token: string;
  ino: number | null;
  command: string;
}

export interface LockOptions {
  /** What the lock protects, e.g. "run grpo-s2 is being trained" (shown to whoever finds it held). */
  purpose: string;
  /** How often the holder refreshes the heartbeat (ms). */
  heartbeatMs?: number;
  /** A lock held on another host is stale when its heartbeat is older than this (ms). */
  staleMs?: number;
  /** Wait up to this long for a held lock (ms; Infinity: until it is free). Default 0: fail at once. */
  waitMs?: number;
  /** Poll interval while waiting (ms). */
  pollMs?: number;
  /** Called once when the lock is found held and the caller starts waiting. */
  onWait?: (holder: LockHolder) => void;
  /** Called when a stale lock is taken over. */
  onTakeover?: (holder: LockHolder, reason: string) => void;
  /** Called (once) when the heartbeat finds the lock is no longer ours. */
  onLost?: (by: LockHolder | null) => void;
}

/** A lock found on disk: its owner (null when the file cannot be parsed) and heartbeat age. */
export interface LockHolder {
  path: string;
  owner: LockOwner | null;
  heartbeatAgeMs: number;
  /** Why it is stale, or null while its holder may be alive. */
  stale: string | null;
}

export interface Lock {
  readonly path: string;
  readonly owner: LockOwner;
  /** True once the heartbeat found the lock taken over or removed. */
  readonly lost: boolean;
  /** Stops the heartbeat and removes the lock file (when it is still ours). Idempotent. */
  release(): void;
}

/** The lock is held by a live process (or one that cannot be proven gone yet). */
export class LockBusyError extends RunError {
  constructor(
    readonly holder: LockHolder,
    staleMs: number,
  ) {
    super(describeHolder(holder, staleMs));
    this.name = 'LockBusyError';
  }
}

function fmtAge(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

/**
 * "run grpo-s2 is being trained by pid 1234 on host node7 since 2026-11-27T16:30:05Z (heartbeat
 * 4 s ago); if that process is gone, …": who holds the lock, and how it will be freed.
 */
export function describeHolder(h: LockHolder, staleMs = defaultStaleMs()): string {
  const o = h.owner;
  if (!o) return `${h.path} is held, but the lock file cannot be read (heartbeat ${fmtAge(h.heartbeatAgeMs)} ago); it counts as stale ${fmtAge(staleMs)} after its last heartbeat, or delete it if no rlbench process uses it`;
  const place = placeOf(o);
  const who = `pid ${o.pid} on host ${o.host}${place === 'here' ? ' (this host)' : ''} since ${o.startedAt} (heartbeat ${fmtAge(h.heartbeatAgeMs)} ago${o.command ? `; ${o.command}` : ''})`;
  const hint =
    place === 'here'
      ? 'that process is still running; stop it, or wait for it to finish'
      : `if that process is gone, the lock is taken over automatically once its heartbeat is ${fmtAge(staleMs)} old, or delete ${h.path}`;
  return `${o.purpose} by ${who}; ${hint}`;
}

function isOwner(v: unknown): v is LockOwner {
  const o = v as LockOwner | null;
  return !!o && typeof o === 'object' && o.format === LOCK_FORMAT && typeof o.pid === 'number' && typeof o.host === 'string' && typeof o.token === 'string';
}

/** The lock at `path` as it is now, or null when there is none. */
export function inspectLock(path: string, staleMs = defaultStaleMs(), now = Date.now()): LockHolder | null {
  let text: string;
  let st: { mtimeMs: number; ino: number };
  try {
    st = statSync(path);
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  const age = now - st.mtimeMs;
  let owner: LockOwner | null = null;
  try {
    const v = JSON.parse(text) as unknown;
    if (isOwner(v)) owner = v;
  } catch {
    owner = null;
  }
  return { path, owner, heartbeatAgeMs: age, stale: staleReason(owner, age, st.ino, staleMs) };
}

function staleReason(o: LockOwner | null, ageMs: number, ino: number, staleMs: number): string | null {
  if (o) {
    const place = placeOf(o);
    if (place === 'rebooted') return `host ${o.host} has rebooted since pid ${o.pid} took it`;
    if (place === 'here') {
      if (o.ino !== null && o.ino !== ino) return 'it is a copy (another file than the one its holder created)';
      if (!sameProcessAlive(o.pid, o.pidStart)) return `pid ${o.pid} on this host is gone`;
      return null;
    }
  }
  return ageMs > staleMs ? `its heartbeat is ${fmtAge(ageMs)} old (stale after ${fmtAge(staleMs)})` : null;
}

const held = new Set<HeldLock>();
let exitHookInstalled = false;

/** Releases every lock this process holds (the exit hook; also for signal handlers). */
export function releaseAllLocks(): void {
  for (const l of [...held]) l.release();
}

class HeldLock implements Lock {
  lost = false;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    readonly path: string,
    readonly owner: LockOwner,
    private readonly opts: Required<Pick<LockOptions, 'heartbeatMs' | 'staleMs'>> & Pick<LockOptions, 'onLost'>,
  ) {
    held.add(this);
    if (!exitHookInstalled) {
      process.on('exit', releaseAllLocks);
      exitHookInstalled = true;
    }
    this.timer = setInterval(() => this.beat(), opts.heartbeatMs);
    this.timer.unref();
  }

  /** Whether the file at `path` is still this holding's. */
  private mine(): boolean {
    try {
      const v = JSON.parse(readFileSync(this.path, 'utf8')) as unknown;
      return isOwner(v) && v.token === this.owner.token;
    } catch {
      return false;
    }
  }

  private beat(): void {
    if (this.lost) return;
    if (!this.mine()) {
      this.lost = true;
      this.stop();
      let by: LockHolder | null = null;
      try {
        by = inspectLock(this.path, this.opts.staleMs);
      } catch {
        by = null;
      }
      this.opts.onLost?.(by);
      return;
    }
    const now = new Date();
    try {
      utimesSync(this.path, now, now);
    } catch {
      // a transient failure (NFS hiccup): the next beat tries again
    }
  }

  private stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  release(): void {
    this.stop();
    if (!held.delete(this)) return;
    if (!this.lost && this.mine()) {
      try {
        unlinkSync(this.path);
      } catch {
        // already gone
      }
    }
  }
}

/**
 * Makes the lock file appear atomically, holding `owner`; true when it is ours. EEXIST (or a
 * lost NFS reply) is told apart by the temporary file's link count.
 */
function createLockFile(path: string, owner: Omit<LockOwner, 'ino'>): LockOwner | null {
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${HOST_TAG}`);
  const write = (fd: number, o: LockOwner) => {
    const buf = Buffer.from(JSON.stringify(o) + '\n', 'utf8');
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    fsyncSync(fd);
  };
  let fd = openSync(tmp, 'w');
  let full: LockOwner;
  try {
    full = { ...owner, ino: fstatSync(fd).ino };
    write(fd, full);
  } finally {
    closeSync(fd);
  }
  try {
    try {
      linkSync(tmp, path);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EPERM' || code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'ENOSYS') {
        // No hard links here: an exclusive create, then the content (a reader that finds the
        // file still empty treats it as held, see inspectLock).
        try {
          fd = openSync(path, 'wx');
        } catch (e2) {
          if ((e2 as NodeJS.ErrnoException).code === 'EEXIST') return null;
          throw e2;
        }
        try {
          full = { ...owner, ino: fstatSync(fd).ino };
          write(fd, full);
        } finally {
          closeSync(fd);
        }
        return full;
      }
      if (code !== 'EEXIST') throw e;
    }
    return lstatSync(tmp).nlink >= 2 ? full : null;
  } finally {
    rmSync(tmp, { force: true });
  }
}

/** Removes a stale lock, unless someone else is doing so or it changed since it was judged. */
function breakStale(h: LockHolder): void {
  const breaker = `${h.path}.breaking`;
  try {
    mkdirSync(breaker);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    // Someone is taking it over right now; a breaker left by a crash is cleared after a minute.
    try {
      if (Date.now() - statSync(breaker).mtimeMs > 60_000) rmdirSync(breaker);
    } catch {
      // gone meanwhile
    }
    return;
  }
  try {
    const now = inspectLock(h.path, Infinity);
    const same = now !== null && (now.owner?.token ?? null) === (h.owner?.token ?? null);
    if (same) unlinkSync(h.path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  } finally {
    rmdirSync(breaker);
  }
}

/**
 * One attempt: the lock (ours now), or the live holder that has it. Stale locks are taken over
 * on the way.
 */
export function tryLock(path: string, opts: LockOptions): Lock | LockHolder {
  const staleMs = opts.staleMs ?? defaultStaleMs();
  const heartbeatMs = opts.heartbeatMs ?? defaultHeartbeatMs(staleMs);
  for (const l of held) {
    if (l.path === path) throw new Error(`lock ${path} is already held by this process`);
  }
  try {
    mkdirSync(dirname(path), { recursive: true });
    for (let attempt = 0; attempt < 5; attempt++) {
      const owner: Omit<LockOwner, 'ino'> = {
        format: LOCK_FORMAT,
        purpose: opts.purpose,
        ...thisProcess(),
        startedAt: new Date().toISOString(),
        token: randomBytes(12).toString('hex'),
        command: ['rlbench', ...process.argv.slice(2)].join(' ').slice(0, 300),
      };
      const mine = createLockFile(path, owner);
      if (mine) return new HeldLock(path, mine, { heartbeatMs, staleMs, onLost: opts.onLost });
      const h = inspectLock(path, staleMs);
      if (h === null) continue; // released in between: try again
      if (h.owner === null && h.heartbeatAgeMs <= staleMs) return h; // being written (O_EXCL fallback) or damaged
      if (h.stale === null) return h;
      opts.onTakeover?.(h, h.stale);
      breakStale(h);
    }
  } catch (e) {
    throw asDiskFull(e, path);
  }
  const h = inspectLock(path, staleMs);
  if (h) return h;
  throw new RunError(`could not take the lock ${path}: it keeps changing hands`);
}

/** Whether tryLock got the lock (else it returned the holder). */
export function isLock(x: Lock | LockHolder): x is Lock {
  return x instanceof HeldLock;
}

/** Takes the lock, waiting up to opts.waitMs for a live holder; throws LockBusyError otherwise. */
export async function acquireLock(path: string, opts: LockOptions): Promise<Lock> {
  const waitMs = opts.waitMs ?? 0;
  const pollMs = opts.pollMs ?? 500;
  const t0 = Date.now();
  let told = false;
  for (;;) {
    const r = tryLock(path, opts);
    if (isLock(r)) return r;
    if (Date.now() - t0 >= waitMs) throw new LockBusyError(r, opts.staleMs ?? defaultStaleMs());
    if (!told) {
      opts.onWait?.(r);
      told = true;
    }
    await new Promise((res) => setTimeout(res, Math.min(pollMs, Math.max(1, waitMs - (Date.now() - t0)))));
  }
}

/** Runs `fn` holding the lock at `path` (see acquireLock), and releases it however `fn` ends. */
export async function withLock<T>(path: string, fn: (lock: Lock) => Promise<T> | T, opts: LockOptions): Promise<T> {
  const lock = await acquireLock(path, opts);
  try {
    return await fn(lock);
  } finally {
    lock.release();
  }
}
