/**
 * functions/atlas-webhook.ts with the real function URL fixture (payload format 2.0): good, bad and
 * missing X-MMS-Signature. The hand-off travels over the wire (the real Lambda client, a local Invoke
 * endpoint) to the reaper function's handler, which runs the pass in the same process.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LambdaFunctionURLEvent } from 'aws-lambda';
import { startStandin, type RunningStandin } from '../standin/src/server.ts';
import { signBody } from '../src/service/signature.ts';
import { startLambdaInvokeStandin, type LambdaInvokeStandin } from './support/lambda-invoke.ts';
import { loadReaperAndWebhook, webhookTestEnv } from './support/webhook.ts';

const SECRET = 'test-webhook-secret';
const fixture = (): LambdaFunctionURLEvent => JSON.parse(readFileSync(new URL('./events/function-url-atlas-alert.json', import.meta.url), 'utf8'));
const alertBody = readFileSync(new URL('./events/atlas-alert.json', import.meta.url), 'utf8');
const context = { getRemainingTimeInMillis: () => 60_000, awsRequestId: 'async-1' };

let standin: RunningStandin;
let lambda: LambdaInvokeStandin;
let auditFile: string;
let webhook: (typeof import('../functions/atlas-webhook.ts'))['handler'];
let closeReaper: () => Promise<void>;
const savedEnv = { ...process.env };

const audit = () => {
  try {
    return readFileSync(auditFile, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
  } catch {
    return [];
  }
};

/** The fixture with another body (signed with `secret`, or with the given header value). */
function request(body: string, signature: string | null | { secret: string }): LambdaFunctionURLEvent {
  const e = fixture();
  e.body = body;
  if (signature === null) delete e.headers['x-mms-signature'];
  else e.headers['x-mms-signature'] = typeof signature === 'string' ? signature : signBody(body, signature.secret);
  return e;
}

before(async () => {
  standin = await startStandin();
  auditFile = join(mkdtempSync(join(tmpdir(), 'webhook-')), 'audit.jsonl');
  const reaperModule = { handler: null as null | ((e: unknown, c: typeof context) => Promise<unknown>) };
  lambda = await startLambdaInvokeStandin({ 'session-reaper': (payload) => reaperModule.handler!(payload, context) });
  Object.assign(process.env, {
    ...webhookTestEnv({ uri: standin.uri, auditFile, secret: SECRET, lambdaEndpoint: lambda.endpoint }),
    AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test',
  });
  ({ webhook, closeReaper } = await loadReaperAndWebhook(reaperModule));
});
after(async () => {
  await closeReaper?.();
  await lambda?.stop();
  process.env = savedEnv;
  await standin?.stop();
});

test('a good signature: 202 at once, the pass queued asynchronously and run with the mapped policy set', async () => {
  // Act
  const response = await webhook(fixture());
  await lambda.settled();
  // Assess
  assert.equal(response.statusCode, 202);
  assert.deepEqual(JSON.parse(response.body!), { accepted: true, cluster: 'orders', policySet: 'strict', alertId: '6749e1f4a1b2c3d4e5f60718' });
  assert.equal(lambda.invocations.length, 1);
  const [invocation] = lambda.invocations;
  assert.equal(invocation!.invocationType, 'Event');
  assert.deepEqual(invocation!.payload, { kind: 'atlas-alert', cluster: 'orders', policySet: 'strict', trigger: { type: 'atlas-alert', name: 'OUTSIDE_METRIC_THRESHOLD/CONNECTIONS', id: '6749e1f4a1b2c3d4e5f60718' } });
  assert.ok(invocation!.outcome && 'result' in invocation!.outcome, `the reaper ran the pass: ${JSON.stringify(invocation!.outcome)}`);
  const summary = audit().find((e) => e['detail-type'] === 'Reaper Run Completed');
  assert.deepEqual(summary?.detail.trigger, { type: 'atlas-alert', name: 'OUTSIDE_METRIC_THRESHOLD/CONNECTIONS', id: '6749e1f4a1b2c3d4e5f60718' });
});

test('a missing or bad signature: 401, nothing queued, no pass', async () => {
  // Prepare
  const invocationsBefore = lambda.invocations.length;
  const auditBefore = audit().length;
  // Act
  const missing = await webhook(request(alertBody, null));
  const wrongKey = await webhook(request(alertBody, { secret: 'not-the-secret' }));
  const garbage = await webhook(request(alertBody, 'c2lnbmF0dXJl'));
  const tampered = await webhook(request(alertBody.replace('"OPEN"', '"OPEN" '), fixture().headers['x-mms-signature']!));
  // Assess
  assert.deepEqual([missing, wrongKey, garbage, tampered].map((r) => r.statusCode), [401, 401, 401, 401]);
  assert.match(JSON.parse(missing.body!).error, /missing x-mms-signature/);
  assert.equal(lambda.invocations.length, invocationsBefore);
  assert.equal(audit().length, auditBefore);
});

test('a base64-encoded body is verified over its decoded bytes', async () => {
  const e = fixture();
  e.body = Buffer.from(alertBody).toString('base64');
  e.isBase64Encoded = true;
  assert.equal((await webhook(e)).statusCode, 202);
  await lambda.settled();
});

test('verified alerts that start nothing: closed, unmapped; and bodies that are not alerts', async () => {
  const before = lambda.invocations.length;
  const closed = alertBody.replace('"OPEN"', '"CLOSED"');
  const unmapped = alertBody.replace('"CONNECTIONS"', '"DISK_PARTITION_SPACE_USED_DATA"');
  const r1 = await webhook(request(closed, { secret: SECRET }));
  const r2 = await webhook(request(unmapped, { secret: SECRET }));
  const r3 = await webhook(request('{"id":"x"}', { secret: SECRET }));
  const r4 = await webhook(request('not json', { secret: SECRET }));
  assert.deepEqual([r1.statusCode, r2.statusCode, r3.statusCode, r4.statusCode], [200, 200, 400, 400]);
  assert.match(JSON.parse(r1.body!).ignored, /status CLOSED: only OPEN alerts start a pass/);
  assert.match(JSON.parse(r2.body!).ignored, /not mapped to a policy set in REAPER_ATLAS_ALERTS/);
  assert.match(JSON.parse(r3.body!).error, /the Atlas alert's "eventTypeName" is missing/);
  assert.equal(lambda.invocations.length, before);
});

test('not POST, or too large: refused before anything else', async () => {
  const get = fixture();
  get.requestContext.http.method = 'GET';
  assert.equal((await webhook(get)).statusCode, 405);
  assert.equal((await webhook(request('x'.repeat(262_145), { secret: SECRET }))).statusCode, 413);
});

test('a hand-off that cannot be queued answers 503, so Atlas tries again', async () => {
  // Prepare: point the webhook at a function the Invoke endpoint does not know.
  // (The module's client and function name are fixed at init; a second module instance gets the new name.)
  const name = process.env.REAPER_FUNCTION_NAME;
  process.env.REAPER_FUNCTION_NAME = 'no-such-function';
  let fresh: typeof import('../functions/atlas-webhook.ts');
  try {
    fresh = await import(`../functions/atlas-webhook.ts?instance=${Date.now()}`);
  } finally {
    process.env.REAPER_FUNCTION_NAME = name;
  }
  // Act
  const response = await fresh.handler(fixture());
  // Assess
  assert.equal(response.statusCode, 503);
});
