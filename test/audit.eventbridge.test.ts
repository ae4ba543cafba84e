/**
 * EventBridge sink against a mocked client (aws-sdk-client-mock, which intercepts client.send, so the sink
 * sends through sdkPutEvents here; test/put-events-transport.test.ts holds the default transport to the
 * SDK's answers request by request): batching by count and by size,
 * oversized entries, positional partial failures re-sent alone, whole-request failures, backoff
 * growth (on the injected sleep's arguments, never wall time), and nothing lost without a log line.
 */
import { beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mockClient } from 'aws-sdk-client-mock';
import {
  EventBridgeClient,
  EventBridgeServiceException,
  PutEventsCommand,
  type PutEventsRequestEntry,
  type PutEventsResultEntry,
} from '@aws-sdk/client-eventbridge';
import { decisionEvent, type AuditContext } from '../src/pass/audit/builder.ts';
import type { AuditEvent, DecisionDetail } from '../src/pass/audit/events.ts';
import { validateAuditDetail } from '../src/pass/audit/schema.ts';
import type { AuditLogger } from '../src/pass/audit/sink.ts';
import {
  EventBridgeAuditSink,
  packBatches,
  putEventsEntrySize,
  PUT_EVENTS_MAX_BYTES,
  type EventBridgeAuditSinkOptions,
} from '../src/adapters/eventbridge.ts';
import { sdkPutEvents } from '../src/adapters/put-events-transport.ts';

const ebMock = mockClient(EventBridgeClient);
const client = new EventBridgeClient({ region: 'us-east-1' });
const BUS = 'reaper-audit';

beforeEach(() => {
  ebMock.reset();
});

const ctx: AuditContext = {
  source: 'mongodb.session-reaper',
  runId: 'run-42',
  cluster: 'cluster0',
  trigger: { type: 'schedule' },
  dryRun: false,
  now: () => new Date('2024-05-01T12:00:00.000Z'),
};

/** A valid killed-session event; `padding` bytes of evidence make it as large as a test needs. */
function event(n: number, padding = 0): AuditEvent {
  return decisionEvent(ctx, {
    target: 'session',
    session: {
      id: `00000000-0000-4000-8000-${n.toString(16).padStart(12, '0')}`,
      uid: n.toString(16).padStart(64, '0'),
      user: 'app@admin',
      appName: 'orders',
      client: '10.0.0.5:50000',
    },
    operation: null,
    rule: 'idle-session',
    action: 'kill',
    reason: `event ${n}`,
    facts: padding > 0 ? { idleSeconds: n, namespaces: ['x'.repeat(padding)] } : { idleSeconds: n },
    outcome: 'killed',
  });
}

function events(count: number, padding = 0): AuditEvent[] {
  return Array.from({ length: count }, (_, i) => event(i, padding));
}

class RecordingLogger implements AuditLogger {
  readonly errors: string[] = [];
  readonly warnings: string[] = [];
  error(message: string): void {
    this.errors.push(message);
  }
  warn(message: string): void {
    this.warnings.push(message);
  }
}

function sink(overrides: Partial<EventBridgeAuditSinkOptions> = {}) {
  const sleeps: number[] = [];
  const logger = new RecordingLogger();
  const s = new EventBridgeAuditSink({
    client,
    transport: sdkPutEvents(client),
    eventBusName: BUS,
    logger,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    random: () => 0.5,
    ...overrides,
  });
  return { sink: s, sleeps, logger };
}

/** Entries of each PutEvents request, in call order. */
function requests(): PutEventsRequestEntry[][] {
  return ebMock.commandCalls(PutEventsCommand).map((call) => call.args[0].input.Entries ?? []);
}

function reasonOf(entry: PutEventsRequestEntry): string {
  return (JSON.parse(entry.Detail ?? '{}') as DecisionDetail).reason;
}

function allAccepted(input: { Entries?: PutEventsRequestEntry[] }) {
  return {
    FailedEntryCount: 0,
    Entries: (input.Entries ?? []).map((_, i): PutEventsResultEntry => ({ EventId: `id-${i}` })),
  };
}

describe('EventBridgeAuditSink batching', () => {
  it('sends 25 events in 3 requests of 10, 10 and 5 with the full entry shape', async () => {
    // Prepare
    ebMock.on(PutEventsCommand).callsFake(allAccepted);
    const { sink: s, logger } = sink();
    const input = events(25);

    // Act
    const result = await s.publish(input);

    // Assess
    assert.deepEqual(result, { sent: 25, failed: [], calls: 3 });
    assert.deepEqual(requests().map((r) => r.length), [10, 10, 5]);
    const first = requests()[0]![0]!;
    assert.equal(first.EventBusName, BUS);
    assert.equal(first.Source, 'mongodb.session-reaper');
    assert.equal(first.DetailType, 'Session Killed');
    assert.deepEqual(first.Time, new Date('2024-05-01T12:00:00.000Z'));
    assert.deepEqual(first.Resources, []);
    for (const entry of requests().flat()) assert.deepEqual(validateAuditDetail(JSON.parse(entry.Detail!)), []);
    assert.deepEqual(requests().flat().map(reasonOf), input.map((e) => (e.detail as DecisionDetail).reason));
    assert.deepEqual(logger.errors, []);
  });

  it('packs entries of about 100 KB at most 2 per request, each request within 256 KB', async () => {
    // Prepare
    ebMock.on(PutEventsCommand).callsFake(allAccepted);
    const { sink: s } = sink();
    const input = events(5, 100 * 1024);

    // Act
    const result = await s.publish(input);

    // Assess
    assert.equal(result.sent, 5);
    assert.deepEqual(requests().map((r) => r.length), [2, 2, 1]);
    for (const request of requests()) {
      const bytes = request.reduce((sum, entry) => sum + putEventsEntrySize(entry), 0);
      assert.ok(bytes <= PUT_EVENTS_MAX_BYTES, `request of ${bytes} bytes`);
    }
  });

  it('reports a single 300 KB entry failed and logged with the event, and still sends the others', async () => {
    // Prepare
    ebMock.on(PutEventsCommand).callsFake(allAccepted);
    const { sink: s, logger } = sink();
    const big = event(99, 300 * 1024);
    const input = [event(1), big, event(2)];

    // Act
    const result = await s.publish(input);

    // Assess
    assert.equal(result.sent, 2);
    assert.equal(result.calls, 1);
    assert.equal(result.failed.length, 1);
    assert.equal(result.failed[0]!.event, big);
    assert.match(result.failed[0]!.error, /over the PutEvents limit of 262144 bytes/);
    assert.deepEqual(requests().flat().map(reasonOf), ['event 1', 'event 2']);
    assert.equal(logger.errors.length, 1);
    const logged = JSON.parse(logger.errors[0]!);
    assert.deepEqual(logged.event.detail, big.detail);
    assert.equal(logged.event.detailType, 'Session Killed');
  });

  it('sends nothing for an empty publish', async () => {
    // Prepare
    const { sink: s } = sink();

    // Act
    const result = await s.publish([]);

    // Assess
    assert.deepEqual(result, { sent: 0, failed: [], calls: 0 });
    assert.equal(ebMock.commandCalls(PutEventsCommand).length, 0);
  });
});

describe('EventBridgeAuditSink retries', () => {
  it('re-sends only the 2 entries the response reports failed, positionally, and they succeed', async () => {
    // Prepare
    ebMock
      .on(PutEventsCommand)
      .callsFakeOnce((input: { Entries: PutEventsRequestEntry[] }) => ({
        FailedEntryCount: 2,
        Entries: input.Entries.map((_, i): PutEventsResultEntry =>
          i === 1
            ? { ErrorCode: 'InternalFailure', ErrorMessage: 'try again' }
            : i === 3
              ? { ErrorCode: 'ThrottlingException', ErrorMessage: 'rate exceeded' }
              : { EventId: `id-${i}` },
        ),
      }))
      .callsFake(allAccepted);
    const { sink: s, sleeps, logger } = sink();

    // Act
    const result = await s.publish(events(5));

    // Assess
    assert.deepEqual(result, { sent: 5, failed: [], calls: 2 });
    assert.deepEqual(requests().map((r) => r.map(reasonOf)), [
      ['event 0', 'event 1', 'event 2', 'event 3', 'event 4'],
      ['event 1', 'event 3'],
    ]);
    assert.equal(sleeps.length, 1);
    assert.deepEqual(logger.errors, []);
    assert.equal(logger.warnings.length, 1);
  });

  it('after maxAttempts reports persistently failing entries failed and logs each with its event', async () => {
    // Prepare
    ebMock.on(PutEventsCommand).callsFake((input: { Entries: PutEventsRequestEntry[] }) => {
      const results = input.Entries.map((entry, i): PutEventsResultEntry =>
        reasonOf(entry) === 'event 2' || reasonOf(entry) === 'event 4'
          ? { ErrorCode: 'InternalFailure', ErrorMessage: 'still broken' }
          : { EventId: `id-${i}` },
      );
      return { FailedEntryCount: results.filter((r) => r.ErrorCode).length, Entries: results };
    });
    const { sink: s, sleeps, logger } = sink({ maxAttempts: 3 });
    const input = events(6);

    // Act
    const result = await s.publish(input);

    // Assess
    assert.equal(result.sent, 4);
    assert.equal(result.calls, 3);
    assert.deepEqual(result.failed.map((f) => f.event), [input[2], input[4]]);
    for (const f of result.failed) assert.match(f.error, /not delivered after 3 attempts: InternalFailure: still broken/);
    assert.deepEqual(requests().map((r) => r.length), [6, 2, 2]);
    assert.equal(sleeps.length, 2);
    assert.equal(logger.errors.length, 2);
    const logged = logger.errors.map((line) => JSON.parse(line));
    assert.deepEqual(logged.map((l) => l.event.detail), [input[2]!.detail, input[4]!.detail]);
    assert.ok(logged.every((l) => l.sink === `eventbridge:${BUS}`));
  });

  it('does not re-send entries rejected with a non-retryable error code', async () => {
    // Prepare
    ebMock.on(PutEventsCommand).callsFake((input: { Entries: PutEventsRequestEntry[] }) => ({
      FailedEntryCount: 1,
      Entries: input.Entries.map((_, i): PutEventsResultEntry =>
        i === 0 ? { ErrorCode: 'NotAuthorizedForSourceException', ErrorMessage: 'no' } : { EventId: `id-${i}` },
      ),
    }));
    const { sink: s, sleeps, logger } = sink();
    const input = events(3);

    // Act
    const result = await s.publish(input);

    // Assess
    assert.equal(result.sent, 2);
    assert.equal(result.calls, 1);
    assert.deepEqual(result.failed, [{ event: input[0], error: 'NotAuthorizedForSourceException: no' }]);
    assert.deepEqual(sleeps, []);
    assert.equal(logger.errors.length, 1);
  });

  it('re-sends an entry the response does not account for (at-least-once)', async () => {
    // Prepare
    ebMock
      .on(PutEventsCommand)
      .resolvesOnce({ FailedEntryCount: 1, Entries: [{ EventId: 'id-0' }] })
      .callsFake(allAccepted);
    const { sink: s } = sink();

    // Act
    const result = await s.publish(events(2));

    // Assess
    assert.deepEqual(result, { sent: 2, failed: [], calls: 2 });
    assert.deepEqual(requests().map((r) => r.map(reasonOf)), [['event 0', 'event 1'], ['event 1']]);
  });

  it('retries a whole-request ThrottlingException and then sends everything', async () => {
    // Prepare
    const throttled = new EventBridgeServiceException({
      name: 'ThrottlingException',
      $fault: 'client',
      $metadata: { httpStatusCode: 400 },
      message: 'Rate exceeded',
    });
    ebMock.on(PutEventsCommand).rejectsOnce(throttled).callsFake(allAccepted);
    const { sink: s, sleeps, logger } = sink();

    // Act
    const result = await s.publish(events(12));

    // Assess
    // The throttled first request is re-sent after the round, once the second one went through.
    assert.deepEqual(result, { sent: 12, failed: [], calls: 3 });
    assert.deepEqual(requests().map((r) => r.length), [10, 2, 10]);
    assert.deepEqual(requests()[2]!.map(reasonOf), requests()[0]!.map(reasonOf));
    assert.equal(sleeps.length, 1);
    assert.deepEqual(logger.errors, []);
  });

  it('fails a whole request with a client fault at once (retrying cannot fix a missing bus)', async () => {
    // Prepare
    const missing = new EventBridgeServiceException({
      name: 'ResourceNotFoundException',
      $fault: 'client',
      $metadata: { httpStatusCode: 400 },
      message: 'Event bus reaper-audit does not exist.',
    });
    ebMock.on(PutEventsCommand).rejects(missing);
    const { sink: s, sleeps, logger } = sink();

    // Act
    const result = await s.publish(events(3));

    // Assess
    assert.equal(result.sent, 0);
    assert.equal(result.calls, 1);
    assert.equal(result.failed.length, 3);
    assert.match(result.failed[0]!.error, /ResourceNotFoundException: Event bus reaper-audit does not exist/);
    assert.deepEqual(sleeps, []);
    assert.equal(logger.errors.length, 3);
  });

  it('grows the backoff delay exponentially up to the cap, with full jitter', async () => {
    // Prepare
    ebMock.on(PutEventsCommand).rejects(new Error('socket hang up'));
    const uncapped = sink({ maxAttempts: 5, baseDelayMs: 100, random: () => 0.5 });
    const capped = sink({ maxAttempts: 5, baseDelayMs: 100, maxDelayMs: 300, random: () => 0.999 });

    // Act
    const uncappedResult = await uncapped.sink.publish(events(1));
    const cappedResult = await capped.sink.publish(events(1));

    // Assess
    assert.deepEqual(uncapped.sleeps, [50, 100, 200, 400]);
    assert.deepEqual(capped.sleeps, [99, 199, 299, 299]);
    assert.equal(uncappedResult.calls, 5);
    assert.equal(uncappedResult.failed.length, 1);
    assert.match(uncappedResult.failed[0]!.error, /not delivered after 5 attempts: PutEvents request failed: Error: socket hang up/);
    assert.equal(cappedResult.failed.length, 1);
  });

  it('draws each delay uniformly below its ceiling (full jitter, not equal jitter)', () => {
    // Prepare
    const low = sink({ baseDelayMs: 100, random: () => 0 }).sink;
    const high = sink({ baseDelayMs: 100, random: () => 0.9999 }).sink;

    // Act
    const lows = [1, 2, 3].map((r) => low.backoffDelay(r));
    const highs = [1, 2, 3].map((r) => high.backoffDelay(r));

    // Assess
    assert.deepEqual(lows, [0, 0, 0]);
    assert.deepEqual(highs, [99, 199, 399]);
  });
});

describe('EventBridgeAuditSink trusts a PutEvents response entry by entry (issue 14, finding 2)', () => {
  it('counts nothing delivered from a 200 reply of {} and logs every event once the attempts are spent', async () => {
    // Prepare
    ebMock.on(PutEventsCommand).resolves({});
    const { sink: s, logger } = sink({ maxAttempts: 3 });
    const input = events(12);

    // Act
    const result = await s.publish(input);

    // Assess
    assert.equal(result.sent, 0);
    assert.deepEqual(result.failed.map((f) => f.event), input);
    for (const f of result.failed) assert.match(f.error, /not delivered after 3 attempts: PutEvents response did not report this entry/);
    assert.deepEqual(requests().map((r) => r.length), [10, 2, 10, 2, 10, 2]);
    assert.deepEqual(logger.errors.map((l) => JSON.parse(l).event.detail), input.map((e) => e.detail));
    assert.ok(logger.warnings.some((w) => /did not account for every entry/.test(w)), logger.warnings.join('\n'));
  });

  it('re-sends entries with an ErrorCode even when FailedEntryCount says 0', async () => {
    // Prepare: every odd entry fails on the first call, and the count denies it.
    ebMock
      .on(PutEventsCommand)
      .callsFakeOnce((input: { Entries: PutEventsRequestEntry[] }) => ({
        FailedEntryCount: 0,
        Entries: input.Entries.map((_, i): PutEventsResultEntry => (i % 2 ? { ErrorCode: 'InternalFailure', ErrorMessage: 'lost' } : { EventId: `id-${i}` })),
      }))
      .callsFake(allAccepted);
    const { sink: s, logger } = sink();

    // Act
    const result = await s.publish(events(6));

    // Assess
    assert.deepEqual(result, { sent: 6, failed: [], calls: 2 });
    assert.deepEqual(requests()[1]!.map(reasonOf), ['event 1', 'event 3', 'event 5']);
    assert.deepEqual(logger.errors, []);
  });

  it('counts entries beyond a short Entries array, and entries with neither EventId nor ErrorCode, as not delivered', async () => {
    // Prepare: 4 entries sent; the reply accounts for 2, one of them without an EventId.
    ebMock
      .on(PutEventsCommand)
      .resolvesOnce({ FailedEntryCount: 0, Entries: [{ EventId: 'id-0' }, {}] })
      .callsFake(allAccepted);
    const { sink: s } = sink();

    // Act
    const result = await s.publish(events(4));

    // Assess
    assert.deepEqual(result, { sent: 4, failed: [], calls: 2 });
    assert.deepEqual(requests()[1]!.map(reasonOf), ['event 1', 'event 2', 'event 3']);
  });
});

describe('EventBridgeAuditSink deadline', () => {
  it('sends nothing when the deadline has passed, and logs every event in full with the reason', async () => {
    // Prepare
    ebMock.on(PutEventsCommand).callsFake(allAccepted);
    const { sink: s, logger } = sink();
    const input = events(3);

    // Act
    const result = await s.publish(input, { deadlineMs: Date.now() - 1 });

    // Assess
    assert.equal(result.sent, 0);
    assert.equal(result.calls, 0);
    assert.equal(ebMock.commandCalls(PutEventsCommand).length, 0);
    for (const f of result.failed) assert.match(f.error, /^not delivered before the audit deadline \(/);
    assert.deepEqual(logger.errors.map((l) => JSON.parse(l).event.detail), input.map((e) => e.detail));
  });

  it('does not start a backoff wait that would end past the deadline: the entries fail at once, logged', async () => {
    // Prepare: the first call throttles; the next wait (up to 50 s with this base) cannot fit.
    ebMock.on(PutEventsCommand).rejects(new Error('socket hang up'));
    const { sink: s, sleeps, logger } = sink({ baseDelayMs: 100_000, maxDelayMs: 100_000 });

    // Act
    const result = await s.publish(events(2), { deadlineMs: Date.now() + 30_000 });

    // Assess
    assert.deepEqual(sleeps, []);
    assert.equal(result.calls, 1);
    for (const f of result.failed) assert.match(f.error, /not delivered before the audit deadline .*: PutEvents request failed: Error: socket hang up/);
    assert.equal(logger.errors.length, 2);
  });

  it('passes the abort signal to every request', async () => {
    // Prepare
    ebMock.on(PutEventsCommand).callsFake(allAccepted);
    const { sink: s } = sink();

    // Act
    await s.publish(events(12), { deadlineMs: Date.now() + 60_000 });

    // Assess
    const signals = ebMock.commandCalls(PutEventsCommand).map((c) => ((c.args as unknown[])[1] as { abortSignal?: AbortSignal } | undefined)?.abortSignal);
    assert.equal(signals.length, 2);
    assert.ok(signals.every((sig) => sig instanceof AbortSignal && !sig.aborted));
  });
});

describe('putEventsEntrySize and packBatches', () => {
  it('counts Time as 14 bytes, strings as UTF-8 bytes, and not the bus name', () => {
    // Prepare
    const entry: PutEventsRequestEntry = {
      Time: new Date(),
      Source: 'src',
      DetailType: 'dt',
      Detail: '{"a":"é"}',
      Resources: ['r1', 'ü'],
      EventBusName: 'a-very-long-bus-name-that-is-not-counted',
    };

    // Act
    const size = putEventsEntrySize(entry);

    // Assess
    assert.equal(size, 14 + 3 + 2 + 10 + 2 + 2);
    assert.equal(putEventsEntrySize({ Source: 'src', DetailType: 'dt' }), 5);
  });

  it('fills a request exactly to 262144 bytes and opens a new one past it', () => {
    // Prepare
    const exact = [{ size: 200_000 }, { size: 62_144 }, { size: 1 }];

    // Act
    const batches = packBatches(exact);

    // Assess
    assert.deepEqual(batches.map((b) => b.length), [2, 1]);
  });

  it('keeps input order across requests', () => {
    // Prepare
    const items = Array.from({ length: 23 }, (_, i) => ({ size: 1, i }));

    // Act
    const batches = packBatches(items);

    // Assess
    assert.deepEqual(batches.map((b) => b.length), [10, 10, 3]);
    assert.deepEqual(batches.flat().map((x) => x.i), items.map((x) => x.i));
  });
});
