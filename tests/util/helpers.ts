// Helpers for the reliability tests: a real tiny tmpfs, a walk that finds leftover temporary and
// lock files, the CLI as a child process, and a run's numbers without its clocks.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tempOwner } from '../../harness/util/fs.ts';
import { readJsonl } from '../../harness/runs/results.ts';

/** Mounts a tmpfs of `size` at a fresh folder, or returns the reason it cannot. */
export function mountTmpfs(size: string): { path: string; unmount: () => void } | string {
  if (process.getuid?.() !== 0) return 'mounting a tmpfs needs root';
  const path = mkdtempSync(join(tmpdir(), 'rlbench-tmpfs-'));
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', path], { encoding: 'utf8' });
  if (r.status !== 0) {
    rmSync(path, { recursive: true, force: true });
    return `mount -t tmpfs failed: ${(r.stderr || r.error?.message || '').trim()}`;
  }
  return {
    path,
    unmount: () => {
      spawnSync('umount', [path]);
      rmSync(path, { recursive: true, force: true });
    },
  };
}

/** Every temporary file or folder (by rlbench's naming), `.old` folder and lock file under root. */
export function leftovers(root: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (tempOwner(name) || name.endsWith('.old') || name.endsWith('.lock') || name.endsWith('.breaking')) out.push(p);
      if (statSync(p).isDirectory()) walk(p);
    }
  };
  walk(root);
  return out;
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** `rlbench <args>` through bin/rlbench.js, as a user runs it. */
export function rlbench(args: string[], opts: { cwd?: string; env?: Record<string, string>; onStderr?: (chunk: string, child: ReturnType<typeof spawn>) => void } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const bin = join(process.cwd(), 'bin/rlbench.js');
    const p = spawn(process.execPath, [bin, ...args], { cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => {
      stderr += d;
      opts.onStderr?.(String(d), p);
    });
    p.on('error', reject);
    p.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** Every number a run produced, minus the clocks. */
export function numbers(expDir: string, run: string): unknown {
  const clock = (k: string) => k === 'wallTime' || k === 'evalTime' || k.startsWith('time/');
  const strip = (rows: Record<string, unknown>[]) => rows.map((r) => Object.fromEntries(Object.entries(r).filter(([k]) => !clock(k))));
  return { metrics: strip(readJsonl(join(expDir, run, 'metrics.jsonl'))), eval: strip(readJsonl(join(expDir, run, 'eval.jsonl'))) };
}
