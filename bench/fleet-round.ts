/**
 * One round of the fleet benchmark: every cluster's pass started together, timed, with the CPU time the
 * round cost the reaper's process (this one) and the servers' process, each as a whole and its main thread.
 * Shared by the reaper's case (fleet-case.ts) and the I/O floor's (fleet-floor-case.ts).
 */
import { cpuMs } from './thread-cpu.ts';

export type CpuTimes = Record<`${'reaper' | 'servers'}${'Main' | 'All'}`, number>;

function cpuTimes(serversPid: number): CpuTimes {
  const t = {} as CpuTimes;
  for (const [name, pid] of [['reaper', process.pid], ['servers', serversPid]] as const) {
    t[`${name}Main`] = cpuMs(`/proc/${pid}/task/${pid}/stat`);
    t[`${name}All`] = cpuMs(`/proc/${pid}/stat`);
  }
  return t;
}

/**
 * All passes started together; the wall time until the last one ends, and meanwhile the CPU time of this
 * process (the reaper) and of the servers' process, each as a whole and its main thread: together they bound
 * the round's wall time from below (a main thread runs on one core at a time; both processes share the cores).
 */
export async function together<T>(clusters: readonly string[], one: (c: string) => Promise<T>, serversPid: number): Promise<{ wallMs: number; cpu: CpuTimes; passes: T[] }> {
  const t0 = performance.now();
  const c0 = cpuTimes(serversPid);
  const passes = await Promise.all(clusters.map(one));
  const c1 = cpuTimes(serversPid);
  const cpu = Object.fromEntries(Object.entries(c1).map(([k, v]) => [k, v - c0[k as keyof CpuTimes]])) as CpuTimes;
  return { wallMs: performance.now() - t0, cpu, passes };
}
