/**
 * `npm run bench:fleet` (also the last part of `npm run bench`): a fleet of clusters through one reaper
 * function. 20 clusters of 2,000 sessions, each on its own stand-in behind a simulated network round trip
 * (30 ms per reply: passes are latency-bound, as over a real network), all passes started together through the
 * reaper function's handler in one process (one warm Lambda container). The figure of merit: the fleet's
 * wall time over one cluster's pass alone (target: at most 2x; passes one after another would take ~20x).
 *
 *   npm run bench:fleet                      20 clusters x 2,000 sessions, 30 ms, 5 dry-run rounds + 1 kill round
 *   npm run bench:fleet -- --quick           4 clusters x 200 sessions, 1 round (the CI smoke check)
 *   npm run bench:fleet -- --clusters 50 --sessions 1000 --latency-ms 50
 *
 * Then the I/O floor (bench/fleet-floor-case.ts) on the same dry-run clusters: each pass reduced to its round trips
 * and audit requests, with none of the reaper's own work, once with the audit and once without. A ratio the floor
 * misses is one no work on the reaper can reach on this machine.
 *
 * The stand-ins run in one process of their own and the reaper in another; both built with esbuild (as the
 * other cases are), so the times are the code's and not the TypeScript loader's. Writes bench/fleet.json.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';
import { DEFAULT_POLICIES_DIR } from '../src/service/config.ts';
import { formatTable } from '../src/util/table.ts';
import { startPutEventsResponder } from './putevents-responder.ts';
import type { CpuTimes } from './fleet-round.ts';
import { THRESHOLDS } from './standin-process.ts';

const { values } = parseArgs({ options: { quick: { type: 'boolean' }, clusters: { type: 'string' }, sessions: { type: 'string' }, 'latency-ms': { type: 'string' }, rounds: { type: 'string' }, out: { type: 'string' } } });
const CLUSTERS = Number(values.clusters ?? (values.quick ? 4 : 20));
const SESSIONS = Number(values.sessions ?? (values.quick ? 200 : 2000));
const LATENCY_MS = Number(values['latency-ms'] ?? 30);
const ROUNDS = Number(values.rounds ?? (values.quick ? 1 : 5));
const OUT = values.out ?? fileURLToPath(new URL('./fleet.json', import.meta.url));
for (const [name, v] of Object.entries({ clusters: CLUSTERS, sessions: SESSIONS, 'latency-ms': LATENCY_MS, rounds: ROUNDS })) {
  if (!Number.isInteger(v) || v < (name === 'latency-ms' ? 0 : 1)) throw new Error(`--${name} must be a whole number${name === 'latency-ms' ? '' : ' of at least 1'}, got ${v}`);
}

const BUILD = fileURLToPath(new URL('./.build/', import.meta.url));
await build({
  entryPoints: Object.fromEntries(['fleet-standins', 'fleet-case', 'fleet-floor-case'].map((name) => [name, fileURLToPath(new URL(`./${name}.ts`, import.meta.url))])),
  bundle: true, packages: 'external', platform: 'node', format: 'esm', target: 'node20', outdir: BUILD, outExtension: { '.js': '.mjs' }, logLevel: 'warning',
});

// Dry-run rounds on one fleet; the kill round on a fleet (and a solo cluster) no pass has killed on.
const dry = Array.from({ length: CLUSTERS }, (_, i) => `d${i}`);
const kill = Array.from({ length: CLUSTERS }, (_, i) => `k${i}`);
const names = [...dry, 'solo', ...kill];
process.stderr.write(`fleet: starting ${names.length} stand-ins of ${SESSIONS.toLocaleString('en-US')} sessions, ${LATENCY_MS} ms per reply...\n`);
const host = spawn(process.execPath, [...(process.env.FLEET_PROFILE_DIR ? ['--cpu-prof', '--cpu-prof-dir', process.env.FLEET_PROFILE_DIR] : []), join(BUILD, 'fleet-standins.mjs'), JSON.stringify({ names, sessions: SESSIONS, latencyMs: LATENCY_MS })], { stdio: ['ignore', 'pipe', 'inherit'] });
const [line] = (await once(createInterface({ input: host.stdout! }), 'line')) as [string];
const uris = JSON.parse(line) as Record<string, string>;
const responder = await startPutEventsResponder();

try {
  const uriEnv = (name: string) => `FLEET_${name.toUpperCase()}_URI`;
  const env: Record<string, string> = {
    ...process.env as Record<string, string>,
    REAPER_CLUSTERS: JSON.stringify(Object.fromEntries(names.map((n) => [n, { uriEnv: uriEnv(n), policySet: 'bench' }]))),
    ...Object.fromEntries(names.map((n) => [uriEnv(n), uris[n]!])),
    REAPER_POLICY_SETS: JSON.stringify({ bench: { dir: DEFAULT_POLICIES_DIR, parameters: THRESHOLDS } }),
    DRY_RUN: 'false', REAPER_MAX_KILLS: '10000000', REAPER_MAX_KILL_SHARE: '1',
    AUDIT_EVENT_BUS_NAME: 'bench', AWS_ENDPOINT_URL_EVENTBRIDGE: responder.endpoint,
    AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'bench', AWS_SECRET_ACCESS_KEY: 'bench', NODE_NO_WARNINGS: '1',
  };
  delete env.MONGODB_URI;
  const out = join(mkdtempSync(join(tmpdir(), 'fleet-')), 'result.json');
  process.stderr.write(`fleet: ${ROUNDS} dry-run round(s) and one kill round through the reaper function's handler...\n`);
  // The handler's log and EMF lines go to stdout, as in Lambda; they are part of the cost, not of the output.
  const reaper = spawn(process.execPath, [...(process.env.FLEET_PROFILE_DIR ? ['--cpu-prof', '--cpu-prof-dir', process.env.FLEET_PROFILE_DIR] : []), join(BUILD, 'fleet-case.mjs'), JSON.stringify({ dry, killSolo: 'solo', kill, rounds: ROUNDS, out, serversPid: host.pid })], { env, stdio: ['ignore', 'ignore', 'inherit'] });
  const [code] = (await once(reaper, 'exit')) as [number];
  if (code !== 0) throw new Error(`the fleet case failed (exit ${code})`);
  const r = JSON.parse(readFileSync(out, 'utf8')) as { dry: { solo: number[]; fleet: number[]; cpu: CpuTimes[]; sessions: number; planned: number; decisions: number; oneAfterAnother: number }; kill: { solo: number; soloKilled: number; fleet: number; cpu: CpuTimes; killed: number; sessions: number } };

  // The I/O floor on the dry-run clusters: the same round trips, and as many audit events as the reaper's
  // dry-run passes published (a decision event each, and the run summary), with none of the reaper's work;
  // then the round trips alone (no audit), which leaves the stand-ins' own CPU as what bounds the round.
  const events = Math.round(r.dry.decisions / CLUSTERS) + 1;
  type FloorRounds = { solo: number[]; fleet: number[]; cpu: CpuTimes[]; passes: number };
  const ioFloor = async (eventsPerPass: number): Promise<FloorRounds> => {
    process.stderr.write(`fleet: the I/O floor, ${ROUNDS} round(s): the same round trips and ${eventsPerPass} audit events a pass, none of the reaper's own work...\n`);
    responder.reset();
    const floorOut = join(dirname(out), `floor-${eventsPerPass}.json`);
    const floorCase = spawn(process.execPath, [join(BUILD, 'fleet-floor-case.mjs'), JSON.stringify({ uris: Object.fromEntries(dry.map((n) => [n, uris[n]!])), clusters: dry, rounds: ROUNDS, events: eventsPerPass, endpoint: responder.endpoint, out: floorOut, serversPid: host.pid })], { env: { ...process.env, NODE_NO_WARNINGS: '1' }, stdio: ['ignore', 'ignore', 'inherit'] });
    const [floorCode] = (await once(floorCase, 'exit')) as [number];
    if (floorCode !== 0) throw new Error(`the I/O floor case failed (exit ${floorCode})`);
    const f = JSON.parse(readFileSync(floorOut, 'utf8')) as FloorRounds;
    // What the floor claims to have published, it did: the responder counted every entry.
    if (responder.stats.entries !== f.passes * eventsPerPass) throw new Error(`the I/O floor published ${responder.stats.entries} audit entries, expected ${f.passes} passes x ${eventsPerPass}`);
    return f;
  };
  const floors = { withAudit: await ioFloor(events), noAudit: await ioFloor(0) };

  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  // The dry-run round whose wall time is the median, with its CPU times.
  const medianRound = r.dry.fleet.indexOf(median(r.dry.fleet));
  const rows = [
    { mode: 'dry-run', clusters: CLUSTERS, sessions: r.dry.sessions, acted: r.dry.planned, solo: median(r.dry.solo), fleet: r.dry.fleet[medianRound]!, cpu: r.dry.cpu[medianRound]! },
    { mode: 'kill', clusters: CLUSTERS, sessions: r.kill.sessions, acted: r.kill.killed, solo: r.kill.solo, fleet: r.kill.fleet, cpu: r.kill.cpu },
  ];
  for (const [mode, f, acted] of [['I/O floor', floors.withAudit, r.dry.planned], ['I/O, no audit', floors.noAudit, 0]] as const) {
    const i = f.fleet.indexOf(median(f.fleet));
    rows.push({ mode, clusters: CLUSTERS, sessions: r.dry.sessions, acted, solo: median(f.solo), fleet: f.fleet[i]!, cpu: f.cpu[i]! });
  }
  // The least wall time the round's CPU allows: a main thread runs on one core at a time, and the two
  // processes (their GC and I/O threads included) share the machine's cores.
  const floor = ({ cpu: c }: { cpu: CpuTimes }) => Math.max(c.reaperMain, c.serversMain, (c.reaperAll + c.serversAll) / cpus().length);
  console.log(formatTable(rows, [
    { header: 'MODE', value: (x) => x.mode },
    { header: 'CLUSTERS', value: (x) => x.clusters },
    { header: 'SESSIONS', value: (x) => x.sessions },
    { header: 'PLANNED/KILLED', value: (x) => x.acted },
    { header: 'ONE PASS ms', value: (x) => Math.round(x.solo) },
    { header: 'FLEET ms', value: (x) => Math.round(x.fleet) },
    { header: 'FLEET / ONE', value: (x) => `${(x.fleet / x.solo).toFixed(2)}x` },
    { header: 'REAPER CPU ms', value: (x) => `${Math.round(x.cpu.reaperMain)} / ${Math.round(x.cpu.reaperAll)}` },
    { header: 'PER PASS ms', value: (x) => Math.round(x.cpu.reaperMain / x.clusters) },
    { header: 'SERVERS CPU ms', value: (x) => `${Math.round(x.cpu.serversMain)} / ${Math.round(x.cpu.serversAll)}` },
    { header: 'CPU FLOOR / ONE', value: (x) => `${(floor(x) / x.solo).toFixed(2)}x` },
  ]));
  // One process runs on one core at a time: the fleet cannot end before its CPU time has been spent.
  console.log(`(CPU: main thread / whole process, during the round. CPU FLOOR: the least wall time that CPU allows, max(reaper main, servers main, (reaper + servers) / ${cpus().length} cores): the ${names.length} stand-ins' process shares this machine's cores with the reaper's)`);
  console.log(`(the same ${CLUSTERS} dry-run passes one after another, as with reserved concurrency 1: ${Math.round(r.dry.oneAfterAnother)} ms, ${(r.dry.oneAfterAnother / median(r.dry.solo)).toFixed(2)}x one pass)`);
  console.log(`(I/O floor: each dry-run pass reduced to its round trips, in the reaper's order, and its ${events} audit events, through the same driver, sink and transport, with none of the reaper's own work: what no work on the reaper can get under on this machine; I/O, no audit: the round trips alone; bench/fleet-floor-case.ts)`);
  console.log(`(${LATENCY_MS} ms per reply; dry-run and I/O floor: medians of ${ROUNDS} round(s), each the solo pass then the fleet; kill: one round; target FLEET / ONE <= 2x)`);
  writeFileSync(OUT, `${JSON.stringify({ machine: { cpus: cpus().length, node: process.version, loadAverageAtEnd: loadavg()[0] }, clusters: CLUSTERS, sessionsPerCluster: SESSIONS, latencyMs: LATENCY_MS, rounds: ROUNDS, ...r, ioFloor: { eventsPerPass: events, ...floors.withAudit }, ioFloorNoAudit: floors.noAudit }, null, 2)}\n`);
  console.log(`written ${OUT}`);
} finally {
  await responder.stop();
  host.kill('SIGTERM');
  await once(host, 'exit');
}
