/**
 * CPU time of a process or one of its threads, from /proc (Linux), for the benchmarks that measure the main
 * thread apart from V8's compiler and GC threads.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc's CPU times (sysconf(_SC_CLK_TCK), proc(5)). */
const CLOCK_TICKS_PER_S = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());

/**
 * CPU time so far, in ms, of a process (/proc/PID/stat: all its threads, V8's GC helpers and libuv's pool
 * included) or of its main thread (/proc/PID/task/PID/stat: the one that runs JavaScript): utime + stime,
 * fields 14 and 15 (proc(5)), counted after the command name, which is in parentheses and may hold spaces.
 */
export function cpuMs(path: string): number {
  const stat = readFileSync(path, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_S;
}

/** This process's main thread's CPU time so far, in ms. */
export const mainThreadCpuMs = (): number => cpuMs(`/proc/${process.pid}/task/${process.pid}/stat`);
