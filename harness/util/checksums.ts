// Checksums of the files in a checkpoint or cache folder, so a damaged file is detected before
// anything trains on it. The manifest is `SHA256SUMS` in the folder, in the format of coreutils'
// sha256sum (`<hex>  <name>` per line), written last: `sha256sum -c SHA256SUMS` checks a folder
// by hand, and rlbench checks each file against it when it reads the file.
import { closeSync, openSync, readSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { CorruptFileError, readFileOrNull, sha256, writeFileAtomic } from './fs.ts';

export const SUMS_FILE = 'SHA256SUMS';

/** Writes the manifest for `files` (name → sha256 hex) into `dir`. */
export function writeChecksums(dir: string, files: Record<string, string>): void {
  const lines = Object.keys(files)
    .sort()
    .map((name) => `${files[name]}  ${name}\n`);
  writeFileAtomic(join(dir, SUMS_FILE), lines.join(''));
}

/** The manifest of `dir` (name → sha256), or null when the folder has none (written before checksums existed). */
export function readChecksums(dir: string, remedy: string): Map<string, string> | null {
  const path = join(dir, SUMS_FILE);
  const buf = readFileOrNull(path, remedy);
  if (buf === null) return null;
  const sums = new Map<string, string>();
  const lines = buf.toString('utf8').split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  if (lines.length === 0) throw new CorruptFileError(path, 'empty file', remedy);
  lines.forEach((l, i) => {
    const m = /^([0-9a-f]{64}) [ *]([^/\\]+)$/.exec(l);
    if (!m) throw new CorruptFileError(path, 'not a sha256sum line', remedy, i + 1);
    sums.set(m[2]!, m[1]!);
  });
  return sums;
}

/** Throws naming the file when `data` (the bytes just read from dir/name) differs from the manifest. */
export function verifyChecksum(dir: string, name: string, data: Uint8Array, sums: Map<string, string> | null, remedy: string): void {
  if (sums === null) return;
  const want = sums.get(name);
  const path = join(dir, name);
  if (want === undefined) throw new CorruptFileError(join(dir, SUMS_FILE), `has no checksum for ${name}`, remedy);
  const got = sha256(data);
  if (got !== want) throw new CorruptFileError(path, `checksum mismatch: the file is damaged (sha256 ${got.slice(0, 12)}…, recorded ${want.slice(0, 12)}… when it was written)`, remedy);
}

/** The sha256 of a file, read in 16 MiB pieces (for files too large to hold in memory); null when it does not exist. */
export function sha256OfFile(path: string, remedy = ''): string | null {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    throw new CorruptFileError(path, `cannot be read (${code ?? (e as Error).message})`, remedy);
  }
  try {
    const h = createHash('sha256');
    const buf = Buffer.allocUnsafe(1 << 24);
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
    }
    return h.digest('hex');
  } finally {
    closeSync(fd);
  }
}

/** verifyChecksum for a file read in pieces; a missing file is named as such. */
export function verifyFileChecksum(dir: string, name: string, sums: Map<string, string> | null, remedy: string): void {
  const path = join(dir, name);
  const got = sha256OfFile(path, remedy);
  if (got === null) throw new CorruptFileError(path, 'missing from the checkpoint folder', remedy);
  if (sums === null) return;
  const want = sums.get(name);
  if (want === undefined) throw new CorruptFileError(join(dir, SUMS_FILE), `has no checksum for ${name}`, remedy);
  if (got !== want) throw new CorruptFileError(path, `checksum mismatch: the file is damaged (sha256 ${got.slice(0, 12)}…, recorded ${want.slice(0, 12)}… when it was written)`, remedy);
}
