/**
 * The non-EventBridge sinks (file, stdout, in memory, tee), createAuditSink's spec parsing, and
 * assertDelivered. File and stdout output is read back and parsed: every line must be an
 * EventBridge-shaped envelope whose detail validates against the schema.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { AuditDeliveryError, ConfigError } from '../src/util/errors.ts';
import { assertDelivered, type AuditLogger } from '../src/pass/audit/sink.ts';
import { createAuditSink, InMemoryAuditSink, TeeSink } from '../src/adapters/audit-sinks.ts';
import { decisionEvent, emptyCounts, runSummaryEvent, type AuditContext } from '../src/pass/audit/builder.ts';
import { createEventBridgeClient, EventBridgeAuditSink } from '../src/adapters/eventbridge.ts';
import { startScriptedEndpoint } from './support/scripted-putevents.ts';
import { FileAuditSink } from '../src/adapters/audit-file-sink.ts';
import { StdoutAuditSink } from '../src/adapters/audit-stdout-sink.ts';
import { validateAuditDetail } from '../src/pass/audit/schema.ts';
import { type AuditEvent, type EventEnvelope } from '../src/pass/audit/events.ts';

let dir = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'audit-sinks-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const ctx: AuditContext = {
  source: 'mongodb.session-reaper',
  runId: 'run-7',
  cluster: 'cluster0',
  trigger: { type: 'cli' },
  dryRun: true,
  now: () => new Date('2024-05-01T12:00:00.500Z'),
};

function planned(n: number): AuditEvent {
  return decisionEvent(ctx, {
    target: 'session',
    session: { id: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`, uid: 'f'.repeat(64), user: '', appName: 'é-app', client: '' },
    operation: null,
    rule: 'idle',
    action: 'kill',
    reason: `planned ${n}`,
    facts: { idleSeconds: 3600 + n },
    outcome: 'planned',
  });
}

function summary(): AuditEvent {
  return runSummaryEvent(ctx, { startedAt: new Date('2024-05-01T11:59:59.000Z'), reportOnly: false, reportOnlyReason: null, counts: emptyCounts(), stillRunning: [] });
}

class RecordingLogger implements AuditLogger {
  readonly errors: string[] = [];
  error(message: string): void {
    this.errors.push(message);
  }
  warn(): void {}
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function parseLines(text: string): EventEnvelope[] {
  assert.ok(text.endsWith('\n'), 'output ends with a newline');
  return text.trimEnd().split('\n').map((line) => JSON.parse(line) as EventEnvelope);
}

function assertEnvelope(envelope: EventEnvelope, event: AuditEvent, region: string): void {
  assert.deepEqual(Object.keys(envelope), ['version', 'id', 'detail-type', 'source', 'account', 'time', 'region', 'resources', 'detail']);
  assert.equal(envelope.version, '0');
  assert.match(envelope.id, UUID);
  assert.equal(envelope['detail-type'], event.detailType);
  assert.equal(envelope.source, event.source);
  assert.equal(envelope.account, '');
  assert.equal(envelope.time, '2024-05-01T12:00:00Z');
  assert.equal(envelope.region, region);
  assert.deepEqual(envelope.resources, []);
  assert.deepEqual(envelope.detail, event.detail);
  assert.deepEqual(validateAuditDetail(envelope.detail), []);
}

describe('FileAuditSink', () => {
  it('appends one JSON-line envelope per event, across publishes, after existing content', async () => {
    // Prepare
    const path = join(dir, 'append.jsonl');
    await writeFile(path, '{"earlier":"line"}\n');
    const sink = new FileAuditSink({ path, region: 'eu-west-1' });
    const first = [planned(1), planned(2)];
    const second = [summary()];

    // Act
    const r1 = await sink.publish(first);
    const r2 = await sink.publish(second);
    await sink.close();
    const lines = (await readFile(path, 'utf8')).trimEnd().split('\n');

    // Assess
    assert.deepEqual(r1, { sent: 2, failed: [], calls: 1 });
    assert.deepEqual(r2, { sent: 1, failed: [], calls: 1 });
    assert.equal(lines.length, 4);
    assert.equal(lines[0], '{"earlier":"line"}');
    const envelopes = parseLines(lines.slice(1).join('\n') + '\n');
    [...first, ...second].forEach((event, i) => assertEnvelope(envelopes[i]!, event, 'eu-west-1'));
    assert.notEqual(envelopes[0]!.id, envelopes[1]!.id);
  });

  it('keeps each batch contiguous when publishes overlap', async () => {
    // Prepare
    const path = join(dir, 'concurrent.jsonl');
    const sink = new FileAuditSink({ path });
    const batches = [0, 1, 2].map((b) => [planned(b * 10), planned(b * 10 + 1), planned(b * 10 + 2)]);

    // Act
    const results = await Promise.all(batches.map((batch) => sink.publish(batch)));
    await sink.close();
    const reasons = parseLines(await readFile(path, 'utf8')).map((e) => (e.detail as { reason: string }).reason);

    // Assess
    assert.ok(results.every((r) => r.sent === 3));
    assert.deepEqual(reasons, batches.flat().map((e) => (e.detail as { reason: string }).reason));
  });

  it('writes to a device that cannot be synchronised (/dev/null) and closes cleanly', async () => {
    // Prepare
    const sink = new FileAuditSink({ path: '/dev/null' });

    // Act
    const result = await sink.publish([planned(1), planned(2)]);
    const closing = sink.close();

    // Assess: fsync of /dev/null fails with EINVAL; there is nothing to flush
    assert.equal(result.sent, 2);
    await assert.doesNotReject(closing);
  });

  it('reports and logs every event failed when the file cannot be opened, without throwing', async () => {
    // Prepare
    const path = join(dir, 'no-such-dir', 'audit.jsonl');
    const logger = new RecordingLogger();
    const sink = new FileAuditSink({ path, logger });
    const events = [planned(1), planned(2)];

    // Act
    const result = await sink.publish(events);

    // Assess
    assert.equal(result.sent, 0);
    assert.deepEqual(result.failed.map((f) => f.event), events);
    assert.match(result.failed[0]!.error, /cannot append to .*no-such-dir.*ENOENT/);
    assert.equal(logger.errors.length, 2);
    assert.deepEqual(JSON.parse(logger.errors[0]!).event.detail, events[0]!.detail);
  });

  it('reports events published after close as failed', async () => {
    // Prepare
    const path = join(dir, 'closed.jsonl');
    const logger = new RecordingLogger();
    const sink = new FileAuditSink({ path, logger });
    await sink.publish([planned(1)]);
    await sink.close();

    // Act
    const result = await sink.publish([planned(2)]);

    // Assess
    assert.equal(result.failed.length, 1);
    assert.match(result.failed[0]!.error, /closed/);
    assert.equal(parseLines(await readFile(path, 'utf8')).length, 1);
  });
});

/** A stream whose every write fails with EPIPE (it is errored after the first), as a closed pipe's. */
function closedPipe(): Writable {
  return new Writable({
    write(_chunk, _encoding, callback) {
      callback(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
    },
  });
}

describe('StdoutAuditSink', () => {
  it('writes the same JSON-line envelopes to the injected stream, one write per publish', async () => {
    // Prepare
    const stream = new PassThrough();
    const chunks: string[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk.toString('utf8')));
    const sink = new StdoutAuditSink({ stream, region: 'ap-south-1' });
    const events = [planned(1), summary()];

    // Act
    const result = await sink.publish(events);

    // Assess
    assert.deepEqual(result, { sent: 2, failed: [], calls: 1 });
    assert.equal(chunks.length, 1);
    const envelopes = parseLines(chunks.join(''));
    events.forEach((event, i) => assertEnvelope(envelopes[i]!, event, 'ap-south-1'));
  });

  it('reports a stream error (a closed pipe) as failed and logged, not as a crash', async () => {
    // Prepare
    const stream = closedPipe();
    const logger = new RecordingLogger();
    const sink = new StdoutAuditSink({ stream, logger });

    // Act
    const result = await sink.publish([planned(1)]);
    await new Promise((resolve) => setImmediate(resolve)); // let the stream emit its 'error'

    // Assess
    assert.equal(result.sent, 0);
    assert.match(result.failed[0]!.error, /EPIPE/);
    assert.equal(logger.errors.length, 1);
  });
});

describe('StdoutAuditSink when the reader goes away or stops reading (issue 14, finding 7)', () => {
  it('after an EPIPE, the next publish (the run summary) fails at once, logged, with no unhandled error', async () => {
    // Prepare
    const stream = closedPipe();
    const logger = new RecordingLogger();
    const sink = new StdoutAuditSink({ stream, logger });

    // Act
    const first = await sink.publish([planned(1), planned(2)]);
    await new Promise((resolve) => setImmediate(resolve));
    const second = await sink.publish([summary()]);
    await new Promise((resolve) => setImmediate(resolve));

    // Assess
    assert.deepEqual([first.sent, first.failed.length, second.sent, second.failed.length], [0, 2, 0, 1]);
    assert.match(second.failed[0]!.error, /EPIPE/);
    assert.deepEqual(logger.errors.map((l) => JSON.parse(l).event.detailType), ['Session Kill Planned', 'Session Kill Planned', 'Reaper Run Completed']);
  });

  it('a write that never completes (a reader that stopped reading) fails at the deadline, logged once', async () => {
    // Prepare: the write callback is never called.
    const stream = new Writable({ write() {} });
    const logger = new RecordingLogger();
    const sink = new StdoutAuditSink({ stream, logger });

    // Act
    const result = await sink.publish([planned(1)], { deadlineMs: Date.now() + 20 });

    // Assess
    assert.equal(result.sent, 0);
    assert.match(result.failed[0]!.error, /^not written to the output stream before the audit deadline/);
    assert.equal(logger.errors.length, 1);
  });
});

describe('InMemoryAuditSink and TeeSink', () => {
  it('records published events and can simulate failures', async () => {
    // Prepare
    const sink = new InMemoryAuditSink({ reject: (e) => (e.detailType === 'Reaper Run Completed' ? 'outage' : undefined) });
    const events = [planned(1), summary()];

    // Act
    const result = await sink.publish(events);

    // Assess
    assert.equal(result.sent, 1);
    assert.deepEqual(result.failed, [{ event: events[1], error: 'outage' }]);
    assert.deepEqual(sink.events, [events[0]]);
  });

  it('tees to every sink; an event is sent only when all sinks took it', async () => {
    // Prepare
    const good = new InMemoryAuditSink();
    const flaky = new InMemoryAuditSink({ reject: (e) => ((e.detail as { reason?: string }).reason === 'planned 2' ? 'disk full' : undefined) });
    const stream = new PassThrough();
    const tee = new TeeSink([good, flaky, new StdoutAuditSink({ stream })]);
    const events = [planned(1), planned(2), planned(3)];

    // Act
    const result = await tee.publish(events);
    await tee.close();

    // Assess
    assert.equal(result.sent, 2);
    assert.equal(result.calls, 3);
    assert.deepEqual(result.failed, [{ event: events[1], error: 'sink 1: disk full' }]);
    assert.deepEqual(good.events, events);
    assert.ok(good.closed && flaky.closed);
  });

  it('treats a sink that rejects as having failed every event', async () => {
    // Prepare
    const broken = { publish: async (): Promise<never> => Promise.reject(new Error('boom')) };
    const tee = new TeeSink([new InMemoryAuditSink(), broken]);
    const events = [planned(1), planned(2)];

    // Act
    const result = await tee.publish(events);

    // Assess
    assert.equal(result.sent, 0);
    assert.deepEqual(result.failed.map((f) => f.error), ['sink 1: boom', 'sink 1: boom']);
  });
});

describe('assertDelivered', () => {
  it('passes a clean result and throws AuditDeliveryError naming the count and reasons otherwise', () => {
    // Prepare
    const event = planned(1);

    // Act
    const clean = () => assertDelivered({ sent: 1, failed: [], calls: 1 });
    const broken = () => assertDelivered({ sent: 0, failed: [{ event, error: 'AccessDeniedException: no' }], calls: 1 }, 'eventbridge:bus');

    // Assess
    assert.doesNotThrow(clean);
    assert.throws(broken, (error: unknown) => {
      assert.ok(error instanceof AuditDeliveryError);
      assert.match(error.message, /^1 audit event\(s\) not delivered to eventbridge:bus .*AccessDeniedException: no/);
      return true;
    });
  });
});

describe('createAuditSink', () => {
  it('builds a stdout sink from "stdout" on the injected stream', async () => {
    // Prepare
    const stream = new PassThrough();
    let written = '';
    stream.on('data', (c: Buffer) => (written += c.toString('utf8')));

    // Act
    const sink = createAuditSink('stdout', { stream, env: { AWS_REGION: 'sa-east-1' } });
    await sink.publish([planned(1)]);

    // Assess
    assert.ok(sink instanceof StdoutAuditSink);
    assert.equal(parseLines(written)[0]!.region, 'sa-east-1');
  });

  it('builds a file sink from "file:PATH", keeping colons in the path', async () => {
    // Prepare
    const path = join(dir, 'spec:with:colons.jsonl');

    // Act
    const sink = createAuditSink(`file:${path}`, { env: {} });
    await sink.publish([planned(1)]);
    await sink.close?.();

    // Assess
    assert.ok(sink instanceof FileAuditSink);
    assert.equal(sink.path, path);
    assert.equal(parseLines(await readFile(path, 'utf8')).length, 1);
  });

  it('builds an EventBridge sink on the bus from the spec, the option or AUDIT_EVENT_BUS_NAME, in that order', async () => {
    // Prepare
    const endpoint = await startScriptedEndpoint();
    const client = createEventBridgeClient({ endpoint: endpoint.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
    const arn = 'arn:aws:events:us-east-1:123456789012:event-bus/audit';
    const specs: [string, { eventBusName?: string; env: Record<string, string> }][] = [
      [`eventbridge:${arn}`, { eventBusName: 'from-option', env: { AUDIT_EVENT_BUS_NAME: 'from-env' } }],
      ['eventbridge', { eventBusName: 'from-option', env: { AUDIT_EVENT_BUS_NAME: 'from-env' } }],
      ['EventBridge', { env: { AUDIT_EVENT_BUS_NAME: 'from-env' } }],
    ];

    // Act
    const results = [];
    for (const [spec, options] of specs) {
      const sink = createAuditSink(spec, { ...options, client });
      assert.ok(sink instanceof EventBridgeAuditSink);
      results.push(await sink.publish([planned(1)]));
    }
    client.destroy();
    await endpoint.stop();

    // Assess
    assert.deepEqual(results.map((r) => r.sent), [1, 1, 1]);
    const buses = endpoint.received.map((r) => (JSON.parse(r.body) as { Entries: { EventBusName: string }[] }).Entries[0]?.EventBusName);
    assert.deepEqual(buses, [arn, 'from-option', 'from-env']);
  });

  const bad: { spec: string; options?: Parameters<typeof createAuditSink>[1]; expect: RegExp }[] = [
    { spec: 'eventbridge', options: { env: {} }, expect: /audit sink "eventbridge" needs an EventBridge event bus: set AUDIT_EVENT_BUS_NAME or write "eventbridge:BUS_NAME"/ },
    { spec: 'eventbridge:', options: { env: {} }, expect: /needs an EventBridge event bus/ },
    { spec: 'kafka://broker', expect: /audit sink "kafka:\/\/broker" is not a known audit sink; accepted forms: eventbridge, eventbridge:BUS_NAME, stdout, file:PATH/ },
    { spec: '', expect: /audit sink "" is not a known audit sink/ },
    { spec: 'file:', expect: /audit sink "file:" names no file: write "file:PATH"/ },
    { spec: 'stdout:extra', expect: /"stdout:extra" is not a known audit sink/ },
    { spec: 's3', options: { settingName: 'AUDIT_SINK' }, expect: /^AUDIT_SINK "s3" is not a known audit sink/ },
  ];
  for (const c of bad) {
    it(`rejects "${c.spec}" with a ConfigError naming the value and the fix`, () => {
      // Prepare
      const options = { env: {}, ...c.options };

      // Act
      const create = () => createAuditSink(c.spec, options);

      // Assess
      assert.throws(create, (error: unknown) => {
        assert.ok(error instanceof ConfigError, String(error));
        assert.match(error.message, c.expect);
        return true;
      });
    });
  }
});
