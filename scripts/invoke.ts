/**
 * Runs a deployed function's handler locally, the way Lambda would, with an event from a file:
 *
 *   npm run invoke -- reaper --event test/events/scheduler-input.json
 *   npm run invoke -- atlasWebhook --event test/events/function-url-atlas-alert.json
 *   npm run invoke -- reaper --event a.json --event b.json     (one container, events in order)
 *
 * FUNCTION is a function of serverless.yml (`reaper`, `atlasWebhook`). Without MONGODB_URI a MongoDB stand-in
 * is started for the run. The deployment settings come from --deployment FILE (default
 * test/events/local-deployment.json, which matches the fixtures), then the environment, which wins. Audit
 * events go to stdout and the pass is a dry run unless REAPER_AUDIT / DRY_RUN say otherwise. The webhook's
 * hand-off goes through the real Lambda SDK to a local Invoke endpoint that runs the reaper handler here.
 * Prints, per event, one JSON line {"event", "result" | "error", "handedOff"} on stdout (after the audit lines
 * the pass printed); exit 1 when a handler threw (Lambda would report the invocation failed).
 *
 * AWS_LAMBDA_INITIALIZATION_TYPE is "on-demand" (what Lambda sets in an environment it starts for an
 * invocation) unless the environment says otherwise: Powertools reads it when its logger is created, and
 * without it every log line would say cold_start false. Set before the handler modules load, so the first
 * invocation of the run logs cold_start true and the later ones false, as in one Lambda container.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { startStandin } from '../standin/src/server.ts';
import { startLambdaInvokeStandin } from '../test/support/lambda-invoke.ts';

const FUNCTIONS: Record<string, string> = { reaper: '../functions/reaper.ts', atlasWebhook: '../functions/atlas-webhook.ts' };
const USAGE = `usage: npm run invoke -- FUNCTION --event FILE [--event FILE]... [--deployment FILE] [--timeout SECONDS]\nFUNCTION: ${Object.keys(FUNCTIONS).join(', ')}`;

function fail(message: string): never {
  process.stderr.write(`invoke: ${message}\n${USAGE}\n`);
  process.exit(2);
}

function readJson(path: string, what: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    return fail(`cannot read the ${what} ${path}: ${(e as Error).message}`);
  }
}

const { values, positionals } = (() => {
  try {
    return parseArgs({ allowPositionals: true, options: { event: { type: 'string', multiple: true }, deployment: { type: 'string' }, timeout: { type: 'string' } } });
  } catch (e) {
    return fail((e as Error).message);
  }
})();
const name = positionals[0];
if (!name || positionals.length > 1) fail('name one function');
if (!FUNCTIONS[name]) fail(`no function "${name}" in serverless.yml`);
if (!values.event?.length) fail('--event FILE is required (fixtures: test/events/)');
const timeoutMs = 1000 * Number(values.timeout ?? 120);
if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) fail(`--timeout must be a number of seconds, got "${values.timeout}"`);

const events = values.event.map((file) => ({ file, event: readJson(file, 'event') }));
const deployment = readJson(values.deployment ?? new URL('../test/events/local-deployment.json', import.meta.url).pathname, 'deployment settings') as Record<string, unknown>;
const env: Record<string, string> = {};
for (const [k, v] of Object.entries(deployment)) if (!k.startsWith('$')) env[k] = typeof v === 'string' ? v : JSON.stringify(v);

const standin = process.env.MONGODB_URI || process.env.MONGODB_SECRET_ARN || process.env.REAPER_CLUSTERS ? null : await startStandin();
if (standin) process.stderr.write(`invoke: MongoDB stand-in at ${standin.uri}\n`);
let startedAt = Date.now();
let invocation = 0;
const context = { awsRequestId: 'local-0', getRemainingTimeInMillis: () => Math.max(0, startedAt + timeoutMs - Date.now()) };

// The reaper handler, for the webhook's asynchronous hand-off (the module is loaded once, as in a container).
let reaperHandler: ((e: unknown, c: typeof context) => Promise<unknown>) | null = null;
const lambda = await startLambdaInvokeStandin({ 'session-reaper-local': async (payload) => reaperHandler!(payload, context) });
const WINS = new Set(['REAPER_AUDIT', 'DRY_RUN', 'AWS_LAMBDA_INITIALIZATION_TYPE']);
Object.assign(process.env, {
  REAPER_AUDIT: 'stdout', DRY_RUN: 'true', AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'local', AWS_SECRET_ACCESS_KEY: 'local',
  REAPER_FUNCTION_NAME: 'session-reaper-local', AWS_ENDPOINT_URL_LAMBDA: lambda.endpoint, AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
  ...env, ...(standin ? { MONGODB_URI: standin.uri } : {}),
  // The environment wins over the deployment file and the defaults above.
  ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k in env || WINS.has(k))),
});

let exitCode = 0;
const modules: { close?: () => Promise<void> }[] = [];
try {
  if (name === 'atlasWebhook') {
    const reaper = await import(FUNCTIONS.reaper!);
    modules.push(reaper);
    reaperHandler = reaper.handler;
  }
  const fn = await import(FUNCTIONS[name]!);
  modules.push(fn);
  if (name === 'reaper') reaperHandler = fn.handler;
  for (const { file, event } of events) {
    startedAt = Date.now();
    context.awsRequestId = `local-${++invocation}`;
    const handedBefore = lambda.invocations.length;
    let outcome: { result: unknown } | { error: string };
    try {
      outcome = { result: await fn.handler(event, context) };
    } catch (e) {
      exitCode = 1;
      outcome = { error: `${(e as Error).name}: ${(e as Error).message}` };
    }
    await lambda.settled();
    const handedOff = lambda.invocations.slice(handedBefore).map((i) => ({
      payload: i.payload, ...(i.outcome && 'error' in i.outcome ? { error: i.outcome.error.message } : { result: i.outcome?.result }),
    }));
    process.stdout.write(`${JSON.stringify({ event: file, ...outcome, handedOff })}\n`);
  }
} catch (e) {
  // The module's initialisation failed (bad configuration): Lambda fails the init phase the same way.
  exitCode = 1;
  process.stderr.write(`invoke: ${name} failed to start: ${(e as Error).name}: ${(e as Error).message}\n`);
} finally {
  for (const m of modules) await m.close?.();
  await lambda.stop();
  await standin?.stop();
}
process.exit(exitCode);
