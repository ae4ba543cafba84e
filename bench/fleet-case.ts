/**
 * The fleet benchmark's reaper: the reaper function's own handler (functions/reaper.ts), in one process as in
 * one Lambda container, configured by the environment the parent gives (REAPER_CLUSTERS and one *_URI per
 * cluster). Times one cluster's pass alone and every cluster's pass started together, warm (clients
 * connected by a first round), in dry-run (manual run-policy-set) and in kill mode (schedules). Writes the
 * measurements as JSON to the file named in argv.
 */
import { writeFileSync } from 'node:fs';
import { handler, close } from '../functions/reaper.ts';
import { together as round, type CpuTimes } from './fleet-round.ts';

interface Input { dry: string[]; killSolo: string; kill: string[]; rounds: number; out: string; serversPid: number }
interface PassOutcome { sessions: number; killed: number; planned: number; decisions: number; ms: number }

const input = JSON.parse(process.argv[2]!) as Input;
let request = 0;
const context = () => ({ getRemainingTimeInMillis: () => 900_000, awsRequestId: `fleet-${++request}` });
type Counts = { counts: { sessions: number; killed: number; planned: number; decisions: number }; error?: string | null };

async function pass(event: object): Promise<PassOutcome> {
  const t0 = performance.now();
  const r = (await handler(event, context())) as unknown as Counts;
  const ms = performance.now() - t0;
  if (!r.counts || r.error) throw new Error(`pass failed: ${JSON.stringify(r).slice(0, 500)}`);
  return { sessions: r.counts.sessions, killed: r.counts.killed, planned: r.counts.planned, decisions: r.counts.decisions, ms };
}
const dryRun = (cluster: string) => pass({ kind: 'manual', action: 'run-policy-set', cluster, policySet: 'bench', dryRun: true });
const schedule = (cluster: string) => pass({ kind: 'schedule', cluster });

const together = (clusters: string[], one: (c: string) => Promise<PassOutcome>) => round(clusters, one, input.serversPid);

// Warm-up: every cluster's client connected (a warm Lambda container), nothing killed.
await together([...input.dry, input.killSolo, ...input.kill], dryRun);

const dry = { solo: [] as number[], fleet: [] as number[], cpu: [] as CpuTimes[], sessions: 0, planned: 0, decisions: 0 };
for (let i = 0; i < input.rounds; i++) {
  dry.solo.push((await dryRun(input.dry[0]!)).ms);
  const f = await together(input.dry, dryRun);
  dry.fleet.push(f.wallMs);
  dry.cpu.push(f.cpu);
  dry.sessions = f.passes.reduce((n, p) => n + p.sessions, 0);
  dry.planned = f.passes.reduce((n, p) => n + p.planned, 0);
  dry.decisions = f.passes.reduce((n, p) => n + p.decisions, 0);
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
