/**
 * The differential test of the PutEvents transports: signedPutEvents (the default, put-events-transport.ts)
 * against sdkPutEvents (the SDK's whole stack), request by request, on a local endpoint that replies as
 * scripted. For every reply, the two must send the same request (method, path, JSON body, protocol headers,
 * a credential scope for the same region and service, a signature that verifies over what arrived) and
 * come back with the same answer: the same output, or an error with the same name, message, fault, status
 * and request id; and the same retries (the SDK's strategy and attempt headers), clock-skew correction and
 * paths.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SignatureV4 } from '@smithy/signature-v4';
import type { EventBridgeClient, PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { ConfiguredRetryStrategy } from '@smithy/core/retry';
import { createEventBridgeClient, EventBridgeAuditSink } from '../src/adapters/eventbridge.ts';
import { decisionEvent } from '../src/pass/audit/builder.ts';
import type { AuditEvent } from '../src/pass/audit/events.ts';
import { sdkPutEvents, signedPutEvents, type PutEventsTransport } from '../src/adapters/put-events-transport.ts';
import { startScriptedEndpoint, type ReceivedRequest, type ScriptedEndpoint, type ScriptedReply } from './support/scripted-putevents.ts';

const REGION = 'eu-west-1';
const CREDENTIALS = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', sessionToken: 'session-token' };

const ENTRIES: PutEventsRequestEntry[] = [
  { Time: new Date('2026-12-01T18:52:43.398Z'), Source: 'mongodb.session-reaper', DetailType: 'Session Killed', Detail: JSON.stringify({ app: 'é-app "quoted" \u0001 \u2028', n: 1 }), EventBusName: 'arn:aws:events:eu-west-1:123456789012:event-bus/audit', Resources: [] },
  { Source: 'mongodb.session-reaper', DetailType: 'Reaper Run Completed', Detail: '{}', EventBusName: 'audit', Resources: ['arn:aws:rds:x'] },
];

const json = (status: number, body: unknown, headers: Record<string, string> = {}): ScriptedReply => ({ status, headers: { 'x-amzn-requestid': 'request-1', ...headers }, body: JSON.stringify(body) });

const NOT_JSON = "a proxy's HTML 502";
const REPLIES: Record<string, ScriptedReply> = {
  'all accepted': json(200, { FailedEntryCount: 0, Entries: [{ EventId: 'a' }, { EventId: 'b' }] }),
  'a partial failure': json(200, { FailedEntryCount: 1, Entries: [{ EventId: 'a' }, { ErrorCode: 'ThrottlingException', ErrorMessage: 'Rate exceeded' }] }),
  'an empty 200': { status: 200, body: '' },
  'throttling (__type)': json(400, { __type: 'ThrottlingException', message: 'Rate exceeded' }),
  'access denied (namespaced __type, Message)': json(400, { __type: 'com.amazonaws.events#AccessDeniedException', Message: 'not allowed' }),
  'not found (X-Amzn-ErrorType only)': json(400, { message: 'no such bus' }, { 'x-amzn-errortype': 'ResourceNotFoundException:http://internal.amazon.com/coral/com.amazonaws.events/' }),
  'InternalException (modelled)': json(500, { __type: 'InternalException', message: 'try again' }),
  'an unnamed 400': json(400, {}),
  [NOT_JSON]: { status: 502, headers: { 'content-type': 'text/html' }, body: '<html><body>Bad Gateway</body></html>' },
  'clock skew': json(400, { __type: 'InvalidSignatureException', message: 'Signature expired' }),
};

interface Answer {
  output?: unknown;
  error?: { name: string; message: string; fault: unknown; status: unknown; requestId: unknown; retryable: unknown; type: string };
}

async function answer(transport: PutEventsTransport): Promise<Answer> {
  try {
    const { $metadata: _metadata, ...output } = (await transport(ENTRIES)) as Record<string, unknown>;
    return { output };
  } catch (e) {
    const error = e as { name: string; message: string; $fault?: unknown; $metadata?: { httpStatusCode?: unknown; requestId?: unknown }; $retryable?: unknown };
    return { error: { name: error.name, message: error.message.split('\n')[0]!, fault: error.$fault, status: error.$metadata?.httpStatusCode, requestId: error.$metadata?.requestId, retryable: error.$retryable, type: e instanceof Error ? 'Error' : typeof e } };
  }
}

/** X-Amz-Date (20261201T185243Z) as ms since the epoch. */
function amzDate(d: string): number {
  return Date.parse(`${d.slice(0, 4)}-${d.slice(4, 6)}-${d.slice(6, 8)}T${d.slice(9, 11)}:${d.slice(11, 13)}:${d.slice(13, 15)}Z`);
}

function auditEvent(): AuditEvent {
  return decisionEvent(
    { source: 'mongodb.session-reaper', runId: 'run-1', cluster: 'c', trigger: { type: 'cli' }, dryRun: false, now: () => new Date() },
    { target: 'session', operation: null, rule: 'idle-transaction', action: 'kill', reason: 'idle', facts: {}, outcome: 'killed', session: { id: '00000000-0000-4000-8000-000000000001', uid: 'a'.repeat(64), user: 'app@admin', appName: 'orders', client: '' } },
  );
}

/** Re-signs the request as it arrived, with its own date and signed headers: equal only if nothing signed was changed on the way. */
async function signatureVerifies(r: ReceivedRequest, sha256: unknown): Promise<boolean> {
  const authorization = String(r.headers.authorization);
  const signedHeaders = /SignedHeaders=([^,]+)/.exec(authorization)![1]!.split(';');
  const headers = Object.fromEntries(signedHeaders.map((h) => [h, String(r.headers[h])]));
  const signingDate = new Date(amzDate(String(r.headers['x-amz-date'])));
  const signer = new SignatureV4({ service: 'events', region: REGION, credentials: CREDENTIALS, sha256: sha256 as never });
  const [host, port] = String(r.headers.host).split(':');
  const again = await signer.sign({ method: r.method, protocol: 'http:', hostname: host!, port: Number(port), path: r.path, query: {}, headers, body: r.body }, { signingDate, signableHeaders: new Set(signedHeaders) });
  return again.headers.authorization === authorization;
}

describe('signedPutEvents, held to the SDK (sdkPutEvents) request by request', () => {
  let endpoint: ScriptedEndpoint;
  let sdkClient: EventBridgeClient;
  let client: EventBridgeClient;
  before(async () => {
    endpoint = await startScriptedEndpoint();
    // One attempt each, so that one scripted reply is one answer (the retries are compared below).
    sdkClient = createEventBridgeClient({ endpoint: endpoint.endpoint, region: REGION, credentials: CREDENTIALS, maxAttempts: 1 });
    client = createEventBridgeClient({ endpoint: endpoint.endpoint, region: REGION, credentials: CREDENTIALS, maxAttempts: 1 });
  });
  after(async () => {
    sdkClient.destroy();
    client.destroy();
    await endpoint.stop();
  });

  for (const [name, reply] of Object.entries(REPLIES)) {
    it(`sends the same request and gives the same answer for ${name}`, async () => {
      // Prepare
      endpoint.received.length = 0;

      // Act
      endpoint.script(reply);
      const expected = await answer(sdkPutEvents(sdkClient));
      endpoint.script(reply);
      const actual = await answer(signedPutEvents(client));

      // Assess
      if (name === NOT_JSON) {
        // The SDK's message is JSON.parse's own; ours says what came back. The rest is the same.
        assert.match(actual.error?.message ?? '', /^PutEvents answered HTTP 502 with a body that is not JSON \(text\/html\): "<html>/);
        assert.deepEqual({ ...actual.error, message: '' }, { ...expected.error, message: '' });
      } else {
        assert.deepEqual(actual, expected);
      }
      const [sdk, signed] = endpoint.received as [ReceivedRequest, ReceivedRequest];
      assert.equal(endpoint.received.length, 2);
      assert.equal(signed.method, sdk.method);
      assert.equal(signed.path, sdk.path);
      assert.deepEqual(JSON.parse(signed.body), JSON.parse(sdk.body));
      for (const h of ['content-type', 'x-amz-target', 'host', 'x-amz-security-token', 'content-length', 'amz-sdk-request']) assert.equal(signed.headers[h], sdk.headers[h], h);
      const scope = (r: ReceivedRequest) => /Credential=[^/]+\/\d{8}\/([^/]+\/[^/]+)\/aws4_request/.exec(String(r.headers.authorization))?.[1];
      assert.equal(scope(signed), `${REGION}/events`);
      assert.equal(scope(signed), scope(sdk));
      assert.equal(await signatureVerifies(sdk, sdkClient.config.sha256), true, 'the check itself holds for the SDK request');
      assert.equal(await signatureVerifies(signed, sdkClient.config.sha256), true);
    });
  }

  it('retries as the SDK retries (its retry strategy and maxAttempts): throttling, a 503, then an answer', async () => {
    // Prepare: the same zero-delay strategy of 3 attempts on both clients
    const strategy = () => new ConfiguredRetryStrategy(3, () => 0);
    const sdk3 = createEventBridgeClient({ endpoint: endpoint.endpoint, region: REGION, credentials: CREDENTIALS, retryStrategy: strategy() });
    const ours3 = createEventBridgeClient({ endpoint: endpoint.endpoint, region: REGION, credentials: CREDENTIALS, retryStrategy: strategy() });
    const replies = [REPLIES['throttling (__type)']!, json(503, { __type: 'ServiceUnavailable', message: 'busy' }), REPLIES['all accepted']!];
    const tooMany = [REPLIES['throttling (__type)']!, REPLIES['throttling (__type)']!, REPLIES['throttling (__type)']!];
    const results: Record<string, { answer: Answer; requests: string[] }> = {};

    // Act
    for (const [name, client3, transport] of [['sdk', sdk3, sdkPutEvents], ['signed', ours3, signedPutEvents]] as const) {
      for (const [what, script] of [['recovers', replies], ['gives up', tooMany]] as const) {
        endpoint.received.length = 0;
        endpoint.script(...script);
        results[`${name} ${what}`] = { answer: await answer(transport(client3)), requests: endpoint.received.map((r) => String(r.headers['amz-sdk-request'])) };
      }
      client3.destroy();
    }

    // Assess
    assert.deepEqual(results['signed recovers'], results['sdk recovers']);
    assert.deepEqual(results['signed recovers']!.requests, ['attempt=1; max=3', 'attempt=2; max=3', 'attempt=3; max=3']);
    assert.deepEqual(results['signed gives up'], results['sdk gives up']);
    assert.equal(results['signed gives up']!.answer.error?.name, 'ThrottlingException');
  });

  it('after a clock-skew error, corrects its clock and re-sends as the SDK does, so the sink delivers the batch', async () => {
    // Prepare: a server 20 minutes ahead, whose first answer is a skew error
    const ahead = new Date(Date.now() + 20 * 60_000).toUTCString();
    const skewed = { ...REPLIES['clock skew']!, headers: { ...REPLIES['clock skew']!.headers, date: ahead } };
    const fresh = createEventBridgeClient({ endpoint: endpoint.endpoint, region: REGION, credentials: CREDENTIALS, retryStrategy: new ConfiguredRetryStrategy(3, () => 0) });
    const sink = new EventBridgeAuditSink({ client: fresh, eventBusName: 'audit', sleep: async () => undefined, logger: { error: () => {}, warn: () => {} } });
    endpoint.received.length = 0;

    // Act
    endpoint.script(skewed, { status: 200, headers: { date: ahead }, body: JSON.stringify({ FailedEntryCount: 0, Entries: [{ EventId: 'a' }] }) });
    const result = await sink.publish([auditEvent()]);
    fresh.destroy();

    // Assess: delivered by the second request, signed about 20 minutes ahead of this machine's clock
    assert.equal(result.sent, 1);
    assert.deepEqual(result.failed, []);
    assert.equal(endpoint.received.length, 2);
    const signedAt = amzDate(String(endpoint.received[1]!.headers['x-amz-date']));
    assert.ok(Math.abs(signedAt - Date.parse(ahead)) < 60_000, `signed at ${new Date(signedAt).toISOString()}, server at ${ahead}`);
  });

  it('sends to an endpoint with a path as the SDK does (the path with a trailing slash)', async () => {
    // Prepare
    const base = `${endpoint.endpoint}/eventbridge`;
    const sdkPath = createEventBridgeClient({ endpoint: base, region: REGION, credentials: CREDENTIALS, maxAttempts: 1 });
    const oursPath = createEventBridgeClient({ endpoint: base, region: REGION, credentials: CREDENTIALS, maxAttempts: 1 });
    endpoint.received.length = 0;
    endpoint.script();

    // Act
    const expected = await answer(sdkPutEvents(sdkPath));
    const actual = await answer(signedPutEvents(oursPath));
    sdkPath.destroy();
    oursPath.destroy();

    // Assess
    assert.deepEqual(actual, expected);
    assert.deepEqual(endpoint.received.map((r) => r.path), ['/eventbridge/', '/eventbridge/']);
    assert.equal(await signatureVerifies(endpoint.received[1]!, sdkClient.config.sha256), true);
  });

  it('fails with the credential chain\'s own error when no credentials can be found, and tries again on the next call', async () => {
    // Prepare
    const none = createEventBridgeClient({ endpoint: endpoint.endpoint, region: REGION, credentials: () => Promise.reject(Object.assign(new Error('Could not load credentials from any providers'), { name: 'CredentialsProviderError' })) });
    const transport = signedPutEvents(none);

    // Act + Assess
    await assert.rejects(transport(ENTRIES), { name: 'CredentialsProviderError' });
    await assert.rejects(transport(ENTRIES), { name: 'CredentialsProviderError' });
    none.destroy();
  });
});
