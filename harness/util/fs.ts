// Atomic file writes: write to a temporary file in the same directory, fsync, then rename,
// so a reader (or a resumed run) sees either the old file or the new one, never half of one.
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, writeSync, rmSync, readFileSync, existsSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';

export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  writeFileAtomicWith(path, (write) => write(typeof data === 'string' ? Buffer.from(data, 'utf8') : data));
}

/**
 * The streaming form of writeFileAtomic: `fill` calls `write` with successive chunks (so a
 * multi-GB file never has to exist in memory at once); the file appears under `path` only when
 * all of it is on disk.
 */
export function writeFileAtomicWith(path: string, fill: (write: (chunk: Uint8Array) => void) => void): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
  const fd = openSync(tmp, 'w');
  try {
    fill((buf) => {
      let off = 0;
      while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    });
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, path);
}

export function writeJsonAtomic(path: string, value: unknown): void {
  writeFileAtomic(path, JSON.stringify(value, null, 2) + '\n');
}

/**
 * Appends JSON lines by rewriting the file atomically. Logs here are small (one line per
 * step or evaluation), and rewriting keeps the file valid after any crash.
 */
export function appendJsonlAtomic(path: string, rows: unknown[]): void {
  const old = existsSync(path) ? readFileSync(path, 'utf8') : '';
  writeFileAtomic(path, old + rows.map((r) => JSON.stringify(r) + '\n').join(''));
}
