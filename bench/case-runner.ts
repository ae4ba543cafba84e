/**
 * Running benchmark cases (bench/case.ts), one definition for every benchmark that runs them (bench/run.ts,
 * bench/replset.ts, bench/sharded.ts): the case is built to plain JavaScript (esbuild, dependencies left as imports), not run
 * through tsx, so its time and memory are the code's own and not the TypeScript loader's; each case runs in a
 * fresh process, so its peak RSS is its own; the environment points the AWS SDK at the local PutEvents responder.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { CaseResult } from './case.ts';
import { startPutEventsResponder } from './putevents-responder.ts';

const CASE_SOURCE = fileURLToPath(new URL('./case.ts', import.meta.url));
const CASE = fileURLToPath(new URL('./.build/case.mjs', import.meta.url));

export async function buildCase(): Promise<void> {
  await build({ entryPoints: [CASE_SOURCE], bundle: true, packages: 'external', platform: 'node', format: 'esm', target: 'node20', outfile: CASE, logLevel: 'warning' });
}

/** The AWS SDK's settings for a case: EventBridge at the local responder, dummy credentials. */
export function caseEnv(eventBridgeEndpoint: string): Record<string, string> {
  return { AWS_ENDPOINT_URL_EVENTBRIDGE: eventBridgeEndpoint, AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'bench', AWS_SECRET_ACCESS_KEY: 'bench', NODE_NO_WARNINGS: '1' };
}

/** One case in a fresh process; its last stdout line is its result. */
export function runCase(args: object, env: Record<string, string>): Promise<CaseResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CASE, JSON.stringify(args)], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').at(-1)!)) : reject(new Error(`case failed (${code}): ${err.slice(-2000)}`))));
  });
}

/** A stand-in for one side of a side-by-side case: started, seeded, stopped (bench/standin-process.ts). */
export interface SideStandin {
  uri: string;
  stop(): Promise<void>;
}

/**
 * Two deployments side by side (bench/replset.ts, bench/sharded.ts): `repeats` rounds, each running one kill-mode
 * reaper pass on each shape, the order alternating so that both meet the same background load; a fresh stand-in
 * per pass, seeded, auditing to a local PutEvents responder. `input`: more case input (a batch size).
 */
export async function sideBySide<S extends string>(
  shapes: readonly [S, S], repeats: number, side: { start(shape: S): Promise<SideStandin>; seed(shape: S, uri: string): Promise<void> }, input: Record<string, unknown>,
): Promise<(CaseResult & { shape: S })[]> {
  await buildCase();
  const responder = await startPutEventsResponder();
  const env = caseEnv(responder.endpoint);
  const runs: (CaseResult & { shape: S })[] = [];
  try {
    for (let i = 0; i < repeats; i++) {
      for (const shape of i % 2 ? [shapes[1], shapes[0]] : shapes) {
        const standin = await side.start(shape);
        try {
          await side.seed(shape, standin.uri);
          const r = await runCase({ impl: 'reaper', mode: 'kill', uri: standin.uri, bus: 'bench', ...input }, env);
          runs.push({ shape, ...r });
          process.stderr.write(`  ${shape}: ${r.totalMs.toFixed(0)} ms, ${r.kills} kills, ${r.roundTrips} round trips, ${r.killSessionsCalls} killSessions\n`);
        } finally {
          await standin.stop();
        }
      }
    }
  } finally {
    await responder.stop();
  }
  return runs;
}

/** The middle value (the upper middle of an even count). */
export const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
