/**
 * Stdout adapter of the audit sink: the same JSON lines as the file sink (EventBridge envelopes),
 * written to a stream (process.stdout by default, injectable), for piping into jq or a log shipper.
 * Each publish is one stream write, so a batch's lines stay together.
 */
import { writeFully } from '../util/stream-write.ts';
import { toJsonLines, type AuditEvent, type EnvelopeOptions } from '../pass/audit/events.ts';
import { allFailed, deadlineReason, logUndelivered, withinDeadline, type AuditLogger, type AuditSink, type PublishOptions, type PublishResult } from '../pass/audit/sink.ts';

export interface StdoutAuditSinkOptions extends EnvelopeOptions {
  /** Defaults to process.stdout. */
  stream?: NodeJS.WritableStream;
  /** Defaults to console (whose error() goes to stderr, not into the piped stream). */
  logger?: AuditLogger;
}

export class StdoutAuditSink implements AuditSink {
  readonly #stream: NodeJS.WritableStream;
  readonly #logger: AuditLogger;
  readonly #envelope: EnvelopeOptions;

  constructor(options: StdoutAuditSinkOptions = {}) {
    this.#stream = options.stream ?? process.stdout;
    this.#logger = options.logger ?? console;
    this.#envelope = {
      account: options.account ?? '',
      region: options.region ?? process.env.AWS_REGION ?? '',
      ...(options.newId ? { newId: options.newId } : {}),
    };
  }

  async publish(events: AuditEvent[], options: PublishOptions = {}): Promise<PublishResult> {
    if (events.length === 0) return { sent: 0, failed: [], calls: 0 };
    const { deadlineMs } = options;
    // A reader that stopped reading (a paused pager) leaves the write pending forever: the deadline
    // ends the wait, and the events count as not delivered (should the write finish later, they are
    // in both places: at least once).
    return withinDeadline(
      (cutOff) => writeFully(this.#stream, toJsonLines(events, this.#envelope)).then(
        (): PublishResult => ({ sent: events.length, failed: [], calls: 1 }),
        (error: unknown) => this.#failAll(events, `cannot write audit events to the output stream: ${error instanceof Error ? error.message : String(error)}`, cutOff()),
      ),
      deadlineMs,
      () => this.#failAll(events, deadlineReason(deadlineMs!, 'not written to the output stream'), false),
    );
  }

  /** `logged`: the events were already logged when the deadline cut the write off. */
  #failAll(events: AuditEvent[], reason: string, logged: boolean): PublishResult {
    if (!logged) for (const event of events) logUndelivered(this.#logger, 'stdout', event, reason);
    return allFailed(events, reason, 1);
  }
}
