// Shared by the report tests: where the fixture lives, a scratch folder, and a PNG header reader.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const FIXTURE = fileURLToPath(new URL('../fixtures/results/fixture', import.meta.url));
export const REPO = fileURLToPath(new URL('../..', import.meta.url));

const made: string[] = [];
process.on('exit', () => { for (const d of made) rmSync(d, { recursive: true, force: true }); });

/** A fresh temporary folder, removed when the test process exits. */
export function scratch(label: string): string {
  const d = mkdtempSync(join(tmpdir(), `rlbench-report-${label}-`));
  made.push(d);
  return d;
}

/** Width and height from a PNG's IHDR chunk; throws when the bytes are not a PNG. */
export function pngSize(buf: Uint8Array): { width: number; height: number } {
  const sig = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (buf.length < 33 || sig.some((b, i) => buf[i] !== b)) throw new Error('not a PNG: bad signature');
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const type = String.fromCharCode(buf[12]!, buf[13]!, buf[14]!, buf[15]!);
  if (view.getUint32(8) !== 13 || type !== 'IHDR') throw new Error('not a PNG: first chunk is not IHDR');
  return { width: view.getUint32(16), height: view.getUint32(20) };
}
