/**
 * createAuditSink, which turns a sink spec from configuration (`eventbridge`, `eventbridge:BUS`, `stdout`,
 * `file:PATH`) into a sink.
 *
 * The EventBridge bus has no default. Falling back to the account's `default` bus would "work" and
 * quietly send the audit trail where none of the reaper's rules, archives or targets listen, which
 * for an audit trail is as bad as dropping it. The bus comes from the spec (`eventbridge:BUS`), the
 * `eventBusName` option, or AUDIT_EVENT_BUS_NAME, in that order; `default` is accepted when named.
 */
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { ConfigError } from '../util/errors.ts';
import type { AuditEvent, EnvelopeOptions } from '../pass/audit/events.ts';
import { createEventBridgeClient, EventBridgeAuditSink, type EventBridgeAuditSinkOptions } from './eventbridge.ts';
import { FileAuditSink } from './audit-file-sink.ts';
import { StdoutAuditSink } from './audit-stdout-sink.ts';
import type { AuditLogger, AuditSink, PublishOptions, PublishResult } from '../pass/audit/sink.ts';


/** The spec forms createAuditSink accepts, as shown in its error messages. */
export const AUDIT_SINK_FORMS: readonly string[] = ['eventbridge', 'eventbridge:BUS_NAME', 'stdout', 'file:PATH'];

/** Environment variable naming the EventBridge bus when the spec does not. */
export const AUDIT_EVENT_BUS_NAME_ENV = 'AUDIT_EVENT_BUS_NAME';

export interface CreateAuditSinkOptions extends EnvelopeOptions {
  /** Name of the setting the spec came from, for error messages (e.g. "AUDIT_SINK" or "--audit"). */
  settingName?: string;
  /** Bus for `eventbridge` when the spec does not name one. */
  eventBusName?: string;
  /** Read for AUDIT_EVENT_BUS_NAME (and AWS_REGION for envelopes). Default process.env. */
  env?: Record<string, string | undefined>;
  /** The process's EventBridge client; created with createEventBridgeClient() when absent. */
  client?: EventBridgeClient;
  logger?: AuditLogger;
  /** Per-request timeout of the EventBridge client created here (not of an injected one). */
  requestTimeoutMs?: number;
  /** Stream for `stdout`. Default process.stdout. */
  stream?: NodeJS.WritableStream;
  /** Retry tuning for `eventbridge` (tests inject sleep and random). */
  eventBridge?: Pick<EventBridgeAuditSinkOptions, 'maxAttempts' | 'baseDelayMs' | 'maxDelayMs' | 'sleep' | 'random'>;
}

export function createAuditSink(spec: string, options: CreateAuditSinkOptions = {}): AuditSink {
  const setting = options.settingName ?? 'audit sink';
  const env = options.env ?? process.env;
  const trimmed = spec.trim();
  const colon = trimmed.indexOf(':');
  const kind = (colon === -1 ? trimmed : trimmed.slice(0, colon)).toLowerCase();
  const argument = colon === -1 ? undefined : trimmed.slice(colon + 1);
  const envelope: EnvelopeOptions = {
    account: options.account ?? '',
    region: options.region ?? env.AWS_REGION ?? '',
    ...(options.newId ? { newId: options.newId } : {}),
  };
  const logger = options.logger ? { logger: options.logger } : {};

  if (kind === 'eventbridge') {
    // Bus names may be ARNs (which contain ":"), so everything after the first colon is the name.
    const eventBusName = (argument ?? options.eventBusName ?? env[AUDIT_EVENT_BUS_NAME_ENV] ?? '').trim();
    if (eventBusName === '') {
      throw new ConfigError(
        `${setting} "${spec}" needs an EventBridge event bus: set ${AUDIT_EVENT_BUS_NAME_ENV} or write ` +
          '"eventbridge:BUS_NAME" (use "eventbridge:default" to send to the account\'s default bus on purpose)',
      );
    }
    return new EventBridgeAuditSink({
      client: options.client ?? createEventBridgeClient({}, options.requestTimeoutMs !== undefined ? { requestMs: options.requestTimeoutMs } : {}),
      eventBusName,
      ...logger,
      ...options.eventBridge,
    });
  }
  if (kind === 'stdout' && argument === undefined) {
    return new StdoutAuditSink({ ...envelope, ...logger, ...(options.stream ? { stream: options.stream } : {}) });
  }
  if (kind === 'file') {
    if (!argument) {
      throw new ConfigError(`${setting} "${spec}" names no file: write "file:PATH", e.g. "file:./audit.jsonl"`);
    }
    return new FileAuditSink({ path: argument, ...envelope, ...logger });
  }
  throw new ConfigError(`${setting} "${spec}" is not a known audit sink; accepted forms: ${AUDIT_SINK_FORMS.join(', ')}`);
}

/** Records published events in memory, for tests and the demo. Can be told to fail some events. */
export class InMemoryAuditSink implements AuditSink {
  readonly events: AuditEvent[] = [];
  calls = 0;
  closed = false;
  readonly #reject: ((event: AuditEvent) => string | undefined) | undefined;

  /** `reject` returns a reason to report an event failed (simulating a sink outage), else undefined. */
  constructor(options: { reject?: (event: AuditEvent) => string | undefined } = {}) {
    this.#reject = options.reject;
  }

  // Records synchronously: no deadline can cut it off, so the publish options are not taken.
  async publish(events: AuditEvent[]): Promise<PublishResult> {
    const result: PublishResult = { sent: 0, failed: [], calls: events.length > 0 ? 1 : 0 };
    this.calls += result.calls;
    for (const event of events) {
      const reason = this.closed ? 'in-memory sink is closed' : this.#reject?.(event);
      if (reason !== undefined) result.failed.push({ event, error: reason });
      else {
        this.events.push(event);
        result.sent++;
      }
    }
    return result;
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  clear(): void {
    this.events.length = 0;
    this.calls = 0;
  }
}

/**
 * Publishes every batch to several sinks at once (e.g. the demo prints to stdout and also keeps
 * the events in memory). An event counts as sent only when every sink accepted it; when some did
 * not, it is reported failed once, with each failing sink's reason.
 */
export class TeeSink implements AuditSink {
  readonly #sinks: readonly AuditSink[];

  constructor(sinks: readonly AuditSink[]) {
    if (sinks.length === 0) throw new ConfigError('TeeSink needs at least one sink');
    this.#sinks = sinks;
  }

  async publish(events: AuditEvent[], options: PublishOptions = {}): Promise<PublishResult> {
    const settled = await Promise.allSettled(this.#sinks.map((sink) => sink.publish(events, options)));
    const reasons = new Map<AuditEvent, string[]>();
    const note = (event: AuditEvent, reason: string): void => {
      const list = reasons.get(event) ?? [];
      list.push(reason);
      reasons.set(event, list);
    };
    let calls = 0;
    settled.forEach((outcome, i) => {
      if (outcome.status === 'fulfilled') {
        calls += outcome.value.calls;
        for (const f of outcome.value.failed) note(f.event, `sink ${i}: ${f.error}`);
      } else {
        // A sink that broke the contract and rejected: every event failed there.
        const reason = outcome.reason instanceof Error ? outcome.reason.message : String(outcome.reason);
        for (const event of events) note(event, `sink ${i}: ${reason}`);
      }
    });
    const failed = [...reasons].map(([event, list]) => ({ event, error: list.join('; ') }));
    return { sent: events.length - failed.length, failed, calls };
  }

  async close(): Promise<void> {
    const settled = await Promise.allSettled(this.#sinks.map((sink) => sink.close?.()));
    const errors = settled.flatMap((s) => (s.status === 'rejected' ? [s.reason] : []));
    if (errors.length > 0) throw new AggregateError(errors, `${errors.length} audit sink(s) failed to close`);
  }
}
