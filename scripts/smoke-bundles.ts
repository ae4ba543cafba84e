/**
 * After `osls package`: unpacks each function's zip from .serverless/ and runs its bundle in Node,
 * the way the Lambda runtime would import it (ESM, handler export), against the MongoDB stand-in.
 * Catches what type checks and source-level tests cannot: a dependency esbuild could not bundle, a
 * CommonJS require() in the ESM output, a file the bundle reads at run time that the package left out.
 *
 *   node --import tsx scripts/smoke-bundles.ts     (npm run package runs it after packaging)
 *
 * The bundles resolve @aws-sdk/* from the repository's node_modules here (the Lambda runtime
 * provides them there), which is why they are unpacked under .serverless/.
 */
import { execFileSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { startStandin } from '../standin/src/server.ts';

const root = new URL('..', import.meta.url).pathname;
const out = join(root, '.serverless');
const unpacked = join(out, 'unpacked');
rmSync(unpacked, { recursive: true, force: true });

function unpack(fn: string): string {
  const dir = join(unpacked, fn);
  mkdirSync(dir, { recursive: true });
  execFileSync('unzip', ['-q', join(out, `${fn}.zip`), '-d', dir]);
  return dir;
}

const context = { getRemainingTimeInMillis: () => 60_000, awsRequestId: 'smoke' };
const failures: string[] = [];
const check = (ok: boolean, what: string): void => {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failures.push(what);
};

for (const fn of ['reaper', 'atlasWebhook']) {
  console.log(`${fn}.zip: ${statSync(join(out, `${fn}.zip`)).size} bytes`);
}

const standin = await startStandin();
// A local endpoint standing in for Lambda's Invoke API: the webhook's hand-off lands here.
const invocations: { fn: string; type: string | undefined; payload: unknown }[] = [];
const lambda = createServer((req, res) => {
  let body = '';
  req.on('data', (c) => (body += c));
  req.on('end', () => {
    invocations.push({ fn: decodeURIComponent(req.url!.split('/')[3] ?? ''), type: req.headers['x-amz-invocation-type'] as string, payload: JSON.parse(body) });
    res.writeHead(202).end();
  });
});
await new Promise<void>((r) => lambda.listen(0, '127.0.0.1', r));
const lambdaPort = (lambda.address() as { port: number }).port;

try {
  Object.assign(process.env, {
    MONGODB_URI: standin.uri, REAPER_CLUSTER: 'orders', REAPER_AUDIT: 'stdout', DRY_RUN: 'true',
    ATLAS_WEBHOOK_SECRET: 'smoke-secret', REAPER_FUNCTION_NAME: 'reaper', REAPER_ATLAS_ALERTS: '{"OUTSIDE_METRIC_THRESHOLD/CONNECTIONS":"strict"}',
    AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'smoke', AWS_SECRET_ACCESS_KEY: 'smoke', AWS_ENDPOINT_URL_LAMBDA: `http://127.0.0.1:${lambdaPort}`,
  });

  const reaperDir = unpack('reaper');
  const reaper = await import(pathToFileURL(join(reaperDir, 'functions/reaper.mjs')).href);
  const scheduled = await reaper.handler({ kind: 'schedule', policySet: 'strict' }, context);
  check(scheduled.error === null && scheduled.policySet === 'strict' && scheduled.counts.sessions >= 1, `reaper bundle ran a scheduled pass with the packaged policies (policySet ${scheduled.policySet}, ${scheduled.counts?.sessions} session(s))`);
  const manual = await reaper.handler({ kind: 'manual', action: 'kill-sessions', sessionIds: ['00000000-0000-4000-8000-000000000000'], reason: 'smoke' }, context);
  check(manual.dryRun === true && manual.notFound.length === 1, 'reaper bundle ran a manual request (dry run, session not found)');
  const replay = await reaper.handler({ 'version': '0', 'id': 'r', 'detail-type': 'Session Killed', 'source': 'mongodb.session-reaper', 'replay-name': 'x', 'detail': {} }, context);
  check(typeof replay.ignored === 'string', 'reaper bundle ignores a replayed audit event');
  await reaper.close();

  const webhookDir = unpack('atlasWebhook');
  const webhook = await import(pathToFileURL(join(webhookDir, 'functions/atlas-webhook.mjs')).href);
  const body = readFileSync(join(root, 'test/events/atlas-alert.json'), 'utf8');
  const event = JSON.parse(readFileSync(join(root, 'test/events/function-url-atlas-alert.json'), 'utf8'));
  event.body = body;
  event.headers['x-mms-signature'] = createHmac('sha1', 'smoke-secret').update(body).digest('base64');
  const accepted = await webhook.handler(event);
  check(accepted.statusCode === 202 && invocations.length === 1 && invocations[0]!.type === 'Event', `webhook bundle verified the signature and queued the pass (${accepted.statusCode}, ${invocations.length} Invoke)`);
  event.headers['x-mms-signature'] = 'AAAAAAAAAAAAAAAAAAAAAAAAAAA=';
  check((await webhook.handler(event)).statusCode === 401, 'webhook bundle refuses a bad signature with 401');
} finally {
  lambda.close();
  await standin.stop();
}
if (failures.length) {
  console.error(`${failures.length} bundle check(s) failed`);
  process.exit(1);
}
console.log('all bundle checks passed');
