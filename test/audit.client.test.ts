/**
 * createEventBridgeClient relies on the SDK's standard settings: AWS_REGION and the endpoint
 * variables AWS_ENDPOINT_URL_EVENTBRIDGE, then AWS_ENDPOINT_URL. Checked end to end against a
 * local HTTP server (no mock: the SDK's own endpoint resolution must run), with static credentials
 * so the default chain is not consulted.
 */
import { after, before, beforeEach, afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createEventBridgeClient, EventBridgeAuditSink } from '../src/adapters/eventbridge.ts';
import { decisionEvent } from '../src/pass/audit/builder.ts';

interface Received {
  url: string;
  target: string;
  authorization: string;
  body: { Entries: { EventBusName: string; Source: string; DetailType: string; Detail: string }[] };
}

let server: Server;
let baseUrl = '';
const received: Received[] = [];
const ENV_KEYS = ['AWS_REGION', 'AWS_ENDPOINT_URL', 'AWS_ENDPOINT_URL_EVENTBRIDGE', 'AWS_IGNORE_CONFIGURED_ENDPOINT_URLS'];
let savedEnv: Record<string, string | undefined> = {};

async function readBody(req: IncomingMessage): Promise<string> {
  let data = '';
  for await (const chunk of req) data += String(chunk);
  return data;
}

before(async () => {
  server = createServer((req, res) => {
    void readBody(req).then((body) => {
      received.push({
        url: req.url ?? '',
        target: String(req.headers['x-amz-target'] ?? ''),
        authorization: String(req.headers.authorization ?? ''),
        body: JSON.parse(body) as Received['body'],
      });
      res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' });
      res.end(JSON.stringify({ FailedEntryCount: 0, Entries: [{ EventId: 'evt-1' }] }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

beforeEach(() => {
  received.length = 0;
  savedEnv = Object.fromEntries(ENV_KEYS.map((k) => [k, process.env[k]]));
  for (const k of ENV_KEYS) delete process.env[k];
});

afterEach(() => {
  for (const k of ENV_KEYS) {
    if (savedEnv[k] === undefined) delete process.env[k];
    else process.env[k] = savedEnv[k];
  }
});

const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' };

function oneEvent() {
  return decisionEvent(
    { source: 'mongodb.session-reaper', runId: 'r', cluster: 'c', trigger: { type: 'manual' }, dryRun: true, now: () => new Date(0) },
    { target: 'operation', session: null, operation: { opid: '7' }, rule: 'r', action: 'report', reason: 'x', facts: {}, outcome: 'planned' },
  );
}

describe('createEventBridgeClient', () => {
  it('takes the region from AWS_REGION and the endpoint from AWS_ENDPOINT_URL_EVENTBRIDGE', async () => {
    // Prepare
    process.env.AWS_REGION = 'eu-central-1';
    process.env.AWS_ENDPOINT_URL = 'http://127.0.0.1:1'; // the service-specific variable must win
    process.env.AWS_ENDPOINT_URL_EVENTBRIDGE = baseUrl;
    const client = createEventBridgeClient({ credentials });
    const sink = new EventBridgeAuditSink({ client, eventBusName: 'audit-bus', sleep: async () => undefined });

    // Act
    const result = await sink.publish([oneEvent()]);
    const region = await client.config.region();
    client.destroy();

    // Assess
    assert.deepEqual(result, { sent: 1, failed: [], calls: 1 });
    assert.equal(region, 'eu-central-1');
    assert.equal(received.length, 1);
    assert.equal(received[0]!.target, 'AWSEvents.PutEvents');
    assert.match(received[0]!.authorization, /Credential=AKIDEXAMPLE\/\d{8}\/eu-central-1\/events\/aws4_request/);
    assert.equal(received[0]!.body.Entries[0]!.EventBusName, 'audit-bus');
    assert.equal(received[0]!.body.Entries[0]!.DetailType, 'Session Kill Planned');
  });

  it('falls back to AWS_ENDPOINT_URL when no EventBridge-specific endpoint is set', async () => {
    // Prepare
    process.env.AWS_REGION = 'us-west-2';
    process.env.AWS_ENDPOINT_URL = baseUrl;
    const client = createEventBridgeClient({ credentials });
    const sink = new EventBridgeAuditSink({ client, eventBusName: 'audit-bus', sleep: async () => undefined });

    // Act
    const result = await sink.publish([oneEvent()]);
    client.destroy();

    // Assess
    assert.equal(result.sent, 1);
    assert.equal(received.length, 1);
  });
});
