/**
 * The fleet benchmark's reaper: the reaper function's own handler (functions/reaper.ts), in one process as in
 * one Lambda container, configured by the environment the parent gives (REAPER_CLUSTERS and one *_URI per
 * cluster). Times one cluster's pass alone and every cluster's pass started together, warm (clients
 * connected by a first round), in dry-run (manual run-policy-set) and in kill mode (schedules). Writes the
 * measurements as JSON to the file named in argv.
 */
import { writeFileSync } from 'node:fs';
import { handler, close } from '../functions/reaper.ts';
import { cpuMs } from './thread-cpu.ts';

interface Input { dry: string[]; killSolo: string; kill: string[]; rounds: number; out: string; serversPid: number }
interface PassOutcome { sessions: number; killed: number; planned: number; ms: number }

const input = JSON.parse(process.argv[2]!) as Input;
let request = 0;
const context = () => ({ getRemainingTimeInMillis: () => 900_000, awsRequestId: `fleet-${++request}` });
type Counts = { counts: { sessions: number; killed: number; planned: number }; error?: string | null };

async function pass(event: object): Promise<PassOutcome> {
  const t0 = performance.now();
  const r = (await handler(event, context())) as unknown as Counts;
  const ms = performance.now() - t0;
  if (!r.counts || r.error) throw new Error(`pass failed: ${JSON.stringify(r).slice(0, 500)}`);
  return { sessions: r.counts.sessions, killed: r.counts.killed, planned: r.counts.planned, ms };
}
const dryRun = (cluster: string) => pass({ kind: 'manual', action: 'run-policy-set', cluster, policySet: 'bench', dryRun: true });
const schedule = (cluster: string) => pass({ kind: 'schedule', cluster });

const processes = { reaper: process.pid, servers: input.serversPid };
type CpuTimes = Record<`${keyof typeof processes}${'Main' | 'All'}`, number>;
function cpuTimes(): CpuTimes {
  const t = {} as CpuTimes;
  for (const [name, pid] of Object.entries(processes) as [keyof typeof processes, number][]) {
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
async function together(clusters: string[], one: (c: string) => Promise<PassOutcome>): Promise<{ wallMs: number; cpu: CpuTimes; passes: PassOutcome[] }> {
  const t0 = performance.now();
  const c0 = cpuTimes();
  const passes = await Promise.all(clusters.map(one));
  const c1 = cpuTimes();
  const cpu = Object.fromEntries(Object.entries(c1).map(([k, v]) => [k, v - c0[k as keyof CpuTimes]])) as CpuTimes;
  return { wallMs: performance.now() - t0, cpu, passes };
}

// Warm-up: every cluster's client connected (a warm Lambda container), nothing killed.
await together([...input.dry, input.killSolo, ...input.kill], dryRun);

const dry = { solo: [] as number[], fleet: [] as number[], cpu: [] as CpuTimes[], sessions: 0, planned: 0 };
for (let i = 0; i < input.rounds; i++) {
  dry.solo.push((await dryRun(input.dry[0]!)).ms);
  const f = await together(input.dry, dryRun);
  dry.fleet.push(f.wallMs);
  dry.cpu.push(f.cpu);
  dry.sessions = f.passes.reduce((n, p) => n + p.sessions, 0);
  dry.planned = f.passes.reduce((n, p) => n + p.planned, 0);
}
// The design this replaced, for comparison: the same passes one after another (reserved concurrency 1).
const t0 = performance.now();
for (const c of input.dry) await dryRun(c);
const oneAfterAnother = performance.now() - t0;

// Kill mode once, on clusters no pass has killed on yet: the solo cluster, then the fleet.
const solo = await schedule(input.killSolo);
const fleet = await together(input.kill, schedule);
const kill = { solo: solo.ms, soloKilled: solo.killed, fleet: fleet.wallMs, cpu: fleet.cpu, killed: fleet.passes.reduce((n, p) => n + p.killed, 0), sessions: fleet.passes.reduce((n, p) => n + p.sessions, 0) };
await close();
writeFileSync(input.out, JSON.stringify({ dry: { ...dry, oneAfterAnother }, kill }));
