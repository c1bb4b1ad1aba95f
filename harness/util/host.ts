// Who and where this process is, as other processes see it: the host name, the machine's boot
// id and PID namespace (so "same host" means "PIDs can be checked here"), and whether a PID is
// still the process it was. Locks (lock.ts) and the clean-up of temporary files (fs.ts) use it to
// tell a dead writer from a live one.
import { readFileSync, readlinkSync } from 'node:fs';
import { hostname } from 'node:os';

function readOr<T>(f: () => T, fallback: T): T {
  try {
    return f();
  } catch {
    return fallback;
  }
}

/** The host name as the OS reports it. */
export const HOST = hostname();

/** The host name reduced to characters that are safe in a file name. */
export const HOST_TAG = HOST.replace(/[^A-Za-z0-9.]/g, '_').slice(0, 40) || 'host';

/** Changes at every reboot (Linux); null elsewhere. */
export const BOOT_ID: string | null = readOr(() => readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || null, null);

/** Processes in different PID namespaces (containers) cannot see each other's PIDs (Linux). */
export const PID_NS: string | null = readOr(() => readlinkSync('/proc/self/ns/pid'), null);

/** Where a process runs: enough to decide whether its PID can be checked from here. */
export interface ProcessPlace {
  host: string;
  bootId: string | null;
  pidNs: string | null;
  pid: number;
  /** The process's start time in clock ticks since boot (Linux), to tell a reused PID apart. */
  pidStart: number | null;
}

/** Start time of a process in clock ticks since boot (field 22 of /proc/<pid>/stat), or null. */
export function processStart(pid: number): number | null {
  return readOr(() => {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: fields start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const v = Number(fields[19]);
    return Number.isFinite(v) ? v : null;
  }, null);
}

export function thisProcess(): ProcessPlace {
  return { host: HOST, bootId: BOOT_ID, pidNs: PID_NS, pid: process.pid, pidStart: processStart(process.pid) };
}

/**
 * How a recorded process relates to this machine: 'here' (its PID can be checked), 'rebooted'
 * (same host name, another boot: it is certainly gone) or 'elsewhere' (another host or PID
 * namespace: only time can tell).
 */
export function placeOf(p: Pick<ProcessPlace, 'host' | 'bootId' | 'pidNs'>): 'here' | 'rebooted' | 'elsewhere' {
  if (p.host !== HOST) return 'elsewhere';
  if (p.bootId && BOOT_ID && p.bootId !== BOOT_ID) return 'rebooted';
  if (p.pidNs && PID_NS && p.pidNs !== PID_NS) return 'elsewhere';
  return 'here';
}

/** Whether a PID on this machine is alive (EPERM: alive but another user's). */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether the process recorded as (pid, pidStart) still runs here: alive, and not a reused PID. */
export function sameProcessAlive(pid: number, pidStart: number | null): boolean {
  if (!pidAlive(pid)) return false;
  if (pidStart === null) return true;
  const now = processStart(pid);
  return now === null || now === pidStart;
}
