// Fixture folders for the Hugging Face tests: the shared tiny checkpoints (../shared next to the
// repository; RLBENCH_HF_FIXTURES overrides) and the ones committed under tests/fixtures/hf-tiny.
import { chmodSync, cpSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const SHARED_HF = process.env.RLBENCH_HF_FIXTURES ?? join(import.meta.dirname, '../../../../shared/fixtures/hf-tiny');
export const LOCAL_HF = join(import.meta.dirname, '../../fixtures/hf-tiny');

/** Every fixture checkpoint: name → folder. */
export const FIXTURES: Record<string, string> = {
  qwen2: join(SHARED_HF, 'qwen2'),
  llama: join(SHARED_HF, 'llama'),
  qwen3: join(LOCAL_HF, 'qwen3'),
  llama3: join(LOCAL_HF, 'llama3'),
  'qwen2-f16-sharded': join(LOCAL_HF, 'qwen2-f16-sharded'),
};

export function readJson<T = unknown>(path: string): T {
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}

export function tmp(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `rlbench-${prefix}-`));
}

/** A writable copy of a fixture folder. */
export function copyFixture(name: string): string {
  const dir = join(tmp(name), name);
  cpSync(FIXTURES[name]!, dir, { recursive: true });
  chmodSync(dir, 0o755);
  for (const f of readdirSync(dir)) chmodSync(join(dir, f), 0o644); // the shared files are read-only
  return dir;
}
