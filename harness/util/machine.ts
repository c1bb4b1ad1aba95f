// What CPU produced the numbers: model, family/model/stepping and the instruction-set
// extensions that decide which ONNX Runtime (MLAS) kernels run. Results reproduce bit for bit
// only where these, the thread count and the ONNX Runtime version are the same, so every run
// records them and the report shows them.
import { readFileSync } from 'node:fs';
import { arch, cpus } from 'node:os';

/** Extensions that select different float kernels in ONNX Runtime's MLAS (x86) or exist on ARM. */
const ISA_FLAGS = [
  'sse4_2', 'avx', 'fma', 'f16c', 'avx2', 'avx_vnni',
  'avx512f', 'avx512bw', 'avx512vl', 'avx512_vnni', 'avx512_bf16', 'avx512_fp16',
  'amx_tile', 'amx_bf16', 'amx_int8',
  // ARM (Features line)
  'asimd', 'asimddp', 'sve', 'sve2', 'bf16', 'i8mm',
];

export interface CpuInfo {
  /** e.g. 'AMD EPYC 7B13'; virtual machines may hide the exact part. */
  model: string;
  logicalCores: number;
  /** e.g. 'family 26 model 2 stepping 1' (x86), which tells generations apart when the name does not. */
  signature: string | null;
  /** e.g. 'x86_64: sse4_2 avx fma f16c avx2 avx512f …' */
  isa: string;
}

/** Parses /proc/cpuinfo text (first processor) into a signature and the ISA flags present. */
export function parseCpuinfo(text: string, machine: string): { signature: string | null; isa: string } {
  const first = text.split(/\n\s*\n/)[0] ?? '';
  const field = (name: string): string | undefined => {
    const m = new RegExp(`^${name}\\s*:\\s*(.*)$`, 'm').exec(first);
    return m ? m[1]!.trim() : undefined;
  };
  const fam = field('cpu family');
  const mod = field('model');
  const step = field('stepping');
  const signature = fam !== undefined && mod !== undefined ? `family ${fam} model ${mod}${step !== undefined ? ` stepping ${step}` : ''}` : null;
  const flags = new Set((field('flags') ?? field('Features') ?? '').split(/\s+/).filter(Boolean));
  const present = ISA_FLAGS.filter((f) => flags.has(f));
  return { signature, isa: `${machine}: ${present.length ? present.join(' ') : 'no extension flags found'}` };
}

export function cpuInfo(): CpuInfo {
  const list = cpus();
  let parsed: { signature: string | null; isa: string } = { signature: null, isa: `${arch()}: unknown (no /proc/cpuinfo)` };
  try {
    parsed = parseCpuinfo(readFileSync('/proc/cpuinfo', 'utf8'), arch() === 'x64' ? 'x86_64' : arch());
  } catch {
    // Not Linux: the model from Node is all there is.
  }
  return { model: list[0]?.model.trim() || 'unknown', logicalCores: list.length, ...parsed };
}

/** One line for run.json and reports: 'AMD EPYC (family 26 model 2 stepping 1) × 2'. */
export function cpuLabel(c: CpuInfo = cpuInfo()): string {
  return `${c.model}${c.signature ? ` (${c.signature})` : ''} × ${c.logicalCores}`;
}
