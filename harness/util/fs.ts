// Files that are never half-written, and reads that say which file is broken.
// - Atomic writes: write a temporary sibling (`.<name>.tmp-<pid>-<host>`), fsync, rename; a folder
//   (a checkpoint) is built under a temporary name and swapped in by rename. A reader, or a
//   resumed run, sees the old version or the new one, never half of one.
// - A full disk (ENOSPC, EDQUOT) becomes one clear error, with the temporary file removed.
// - Temporary files left by a killed process are recognised by name and removed by the next
//   writer (only when their PID is dead on this host, or when they are old); the ones this
//   process has open are tracked, so a signal handler can remove them before exiting.
// - Reads of JSON and JSONL name the file (and line) and what to do, never a bare SyntaxError.
// - Test hook: RLBENCH_TEST_KILL_AT=<n> kills this process (SIGKILL) just before its n-th rename,
//   and RLBENCH_TEST_RENAME_LOG=<file> lists every rename, so tests can crash at a chosen point.
import { appendFileSync, closeSync, existsSync, fsyncSync, lstatSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, writeSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { RunError, printable } from './errors.ts';
import { HOST_TAG, pidAlive } from './host.ts';

// ---------------------------------------------------------------------------------------------
// Errors

/** The disk (or the quota) is full: nothing was replaced, and the temporary file is gone. */
export class DiskFullError extends RunError {
  constructor(
    readonly file: string,
    readonly code: string = 'ENOSPC',
  ) {
    super(`${code === 'EDQUOT' ? 'disk quota exceeded' : 'disk full'} while writing ${file}; nothing was lost; free space and run again`);
    this.name = 'DiskFullError';
  }
}

function diskFullCode(e: unknown): string | null {
  const code = (e as NodeJS.ErrnoException | null)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT' ? code : null;
}

/** `e` as a DiskFullError naming `file` when it is one (or already was), else `e` itself. */
export function asDiskFull(e: unknown, file: string): unknown {
  if (e instanceof DiskFullError) return e;
  const code = diskFullCode(e);
  return code ? new DiskFullError(file, code) : e;
}

/** A results or cache file that exists but cannot be used: which file (and line), why, what to do. */
export class CorruptFileError extends RunError {
  constructor(
    readonly file: string,
    readonly detail: string,
    readonly remedy: string = '',
    readonly line?: number,
  ) {
    super(`${file}${line !== undefined ? `:${line}` : ''}: ${detail}${remedy ? `; ${remedy}` : ''}`);
    this.name = 'CorruptFileError';
  }

  /** The same error with the advice a caller knows better (e.g. which run to start over). */
  withRemedy(remedy: string): CorruptFileError {
    return new CorruptFileError(this.file, this.detail, remedy, this.line);
  }
}

// ---------------------------------------------------------------------------------------------
// Temporary names, renames and clean-up

/** The temporary sibling `path` is written through: `.<name>.tmp-<pid>-<host>` in the same folder. */
export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${HOST_TAG}`);
}

/**
 * The writer of a temporary file or folder, from its name: this version's form and the forms of
 * earlier versions (`.<name>.<pid>.<ms>.tmp`, `<name>.tmp-<pid>`), which carry no host: those
 * were written by single-host versions and count as this host's. Null for other names.
 */
export function tempOwner(name: string): { pid: number; host: string | null } | null {
  let m = /\.tmp-(\d+)-([A-Za-z0-9._]+)$/.exec(name);
  if (m) return { pid: Number(m[1]), host: m[2]! };
  m = /^\..+\.(\d+)\.\d+\.tmp$/.exec(name) ?? /\.tmp-(\d+)$/.exec(name);
  return m ? { pid: Number(m[1]), host: null } : null;
}

const ownTemps = new Set<string>();

/** Removes the temporary files and folders this process is writing (for a signal handler). */
export function removeOwnTemps(): void {
  for (const p of ownTemps) rmSync(p, { recursive: true, force: true });
  ownTemps.clear();
}

/** One hour: a temporary file lives only while it is written, so an older one is abandoned. */
export const TEMP_MAX_AGE_MS = 60 * 60 * 1000;

/**
 * Removes the temporary files and folders in `dir` (not below) that a dead process left: those
 * whose writer was on this host and is gone, and those older than `maxAgeMs` (a writer on another
 * host cannot be checked). Never this process's own, nor a live local writer's. Returns the
 * removed paths.
 */
export function removeStaleTemps(dir: string, maxAgeMs = TEMP_MAX_AGE_MS, now = Date.now()): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const owner = tempOwner(name);
    if (!owner) continue;
    const local = owner.host === null || owner.host === HOST_TAG;
    if (local && owner.pid === process.pid) continue;
    const path = join(dir, name);
    let age: number;
    try {
      age = now - lstatSync(path).mtimeMs;
    } catch {
      continue;
    }
    if ((local && !pidAlive(owner.pid)) || age > maxAgeMs) {
      rmSync(path, { recursive: true, force: true });
      removed.push(path);
    }
  }
  return removed;
}

let renames = 0;

/** rename(2), counted for the fault-injection hook (see the header). */
export function renameInPlace(from: string, to: string): void {
  renames++;
  const log = process.env.RLBENCH_TEST_RENAME_LOG;
  if (log) appendFileSync(log, `${renames}\t${to}\n`);
  if (renames === Number(process.env.RLBENCH_TEST_KILL_AT ?? 0)) process.kill(process.pid, 'SIGKILL');
  renameSync(from, to);
}

// ---------------------------------------------------------------------------------------------
// Atomic writes

export interface WrittenFile {
  /** sha256 of the bytes written, hex. */
  sha256: string;
  bytes: number;
}

export function sha256(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

export function writeFileAtomic(path: string, data: string | Uint8Array): WrittenFile {
  return writeFileAtomicWith(path, (write) => write(typeof data === 'string' ? Buffer.from(data, 'utf8') : data));
}

/**
 * The streaming form of writeFileAtomic: `fill` calls `write` with successive chunks (so a
 * multi-GB file never has to exist in memory at once); the file appears under `path` only when
 * all of it is on disk. Returns the checksum of what was written.
 */
export function writeFileAtomicWith(path: string, fill: (write: (chunk: Uint8Array) => void) => void): WrittenFile {
  const tmp = tempPathFor(path);
  const hash = createHash('sha256');
  let bytes = 0;
  let fd = -1;
  ownTemps.add(tmp);
  try {
    mkdirSync(dirname(path), { recursive: true });
    fd = openSync(tmp, 'w');
    const out = fd;
    fill((buf) => {
      hash.update(buf);
      bytes += buf.length;
      let off = 0;
      while (off < buf.length) off += writeSync(out, buf, off, buf.length - off);
    });
    fsyncSync(fd);
    closeSync(fd);
    fd = -1;
    renameInPlace(tmp, path);
  } catch (e) {
    if (fd >= 0) {
      try {
        closeSync(fd);
      } catch {
        // already failing; the original error is the one to report
      }
    }
    rmSync(tmp, { force: true });
    throw asDiskFull(e, path);
  } finally {
    ownTemps.delete(tmp);
  }
  return { sha256: hash.digest('hex'), bytes };
}

export function writeJsonAtomic(path: string, value: unknown): WrittenFile {
  return writeFileAtomic(path, JSON.stringify(value, null, 2) + '\n');
}

/**
 * Appends JSON lines by rewriting the file atomically. Logs here are small (one line per
 * step or evaluation), and rewriting keeps the file valid after any crash.
 */
export function appendJsonlAtomic(path: string, rows: unknown[]): WrittenFile {
  const old = existsSync(path) ? readFileSync(path, 'utf8') : '';
  return writeFileAtomic(path, old + rows.map((r) => JSON.stringify(r) + '\n').join(''));
}

/** Where replaceDirAtomic keeps the previous version for the instant between its two renames. */
export function previousDirOf(dir: string): string {
  return join(dirname(dir), `.${basename(dir)}.old`);
}

/**
 * After a crash between replaceDirAtomic's two renames only the previous version exists, under
 * previousDirOf(dir): move it back. Call before reading `dir`.
 */
export function recoverDir(dir: string): void {
  const old = previousDirOf(dir);
  if (!existsSync(dir) && existsSync(old)) renameInPlace(old, dir);
}

/**
 * Builds a folder under a temporary name (`fill` writes into it) and swaps it in place of `dir`,
 * so `dir` is always a complete version. On any error the temporary folder is removed; a full
 * disk is reported naming the file under `dir`.
 */
export async function replaceDirAtomic(dir: string, fill: (tmp: string) => Promise<void> | void): Promise<void> {
  const tmp = tempPathFor(dir);
  const old = previousDirOf(dir);
  ownTemps.add(tmp);
  try {
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp, { recursive: true });
    await fill(tmp);
    recoverDir(dir);
    rmSync(old, { recursive: true, force: true });
    if (existsSync(dir)) renameInPlace(dir, old);
    renameInPlace(tmp, dir);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    if (e instanceof DiskFullError && e.file.startsWith(tmp)) throw new DiskFullError(dir + e.file.slice(tmp.length), e.code);
    throw asDiskFull(e, dir);
  } finally {
    ownTemps.delete(tmp);
  }
  rmSync(old, { recursive: true, force: true });
}

// ---------------------------------------------------------------------------------------------
// Careful reads

/** The bytes of a file, or null when it does not exist; any other failure names the file. */
export function readFileOrNull(path: string, remedy = ''): Buffer | null {
  try {
    return readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    throw new CorruptFileError(path, `cannot be read (${code ?? (e as Error).message})`, remedy);
  }
}

function parseJson(text: string, file: string, remedy: string, line?: number): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new CorruptFileError(file, `truncated or not valid JSON (${printable((e as Error).message)})`, remedy, line);
  }
}

/** A JSON file's value, or null when the file does not exist. */
export function readJsonFile<T>(path: string, remedy = ''): T | null {
  const buf = readFileOrNull(path, remedy);
  if (buf === null) return null;
  if (buf.length === 0) throw new CorruptFileError(path, 'empty file', remedy);
  return parseJson(buf.toString('utf8'), path, remedy) as T;
}

/** The rows of a JSONL file (blank lines skipped), or [] when it does not exist. */
export function readJsonlFile<T>(path: string, remedy = ''): T[] {
  const buf = readFileOrNull(path, remedy);
  if (buf === null) return [];
  const out: T[] = [];
  buf
    .toString('utf8')
    .split('\n')
    .forEach((l, i) => {
      if (!l.trim()) return;
      const v = parseJson(l, path, remedy, i + 1);
      if (!v || typeof v !== 'object' || Array.isArray(v)) throw new CorruptFileError(path, 'not a JSON object', remedy, i + 1);
      out.push(v as T);
    });
  return out;
}
