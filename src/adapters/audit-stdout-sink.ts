/**
 * Stdout adapter of the audit sink: the same JSON lines as the file sink (EventBridge envelopes),
 * written to a stream (process.stdout by default, injectable), for piping into jq or a log shipper.
 * Each publish is one stream write, so a batch's lines stay together.
 */
import { toJsonLines, type AuditEvent, type EnvelopeOptions } from '../pass/audit/events.ts';
import { allFailed, logUndelivered, type AuditLogger, type AuditSink, type PublishResult } from '../pass/audit/sink.ts';

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

  async publish(events: AuditEvent[]): Promise<PublishResult> {
    if (events.length === 0) return { sent: 0, failed: [], calls: 0 };
    try {
      await this.#write(toJsonLines(events, this.#envelope));
      return { sent: events.length, failed: [], calls: 1 };
    } catch (error) {
      const reason = `cannot write audit events to the output stream: ${error instanceof Error ? error.message : String(error)}`;
      for (const event of events) logUndelivered(this.#logger, 'stdout', event, reason);
      return allFailed(events, reason, 1);
    }
  }

  /**
   * Resolves once the chunk is handed to the OS. A stream error (EPIPE when the reader of a pipe
   * went away) is listened for during the write, so it becomes a reported failure instead of an
   * unhandled 'error' event that would crash the process before the run summary is out.
   */
  #write(data: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (error: Error): void => reject(error);
      this.#stream.once('error', onError);
      this.#stream.write(data, (error?: Error | null) => {
        // On failure the stream emits 'error' after this callback, so the once-listener stays to
        // absorb it; on success it is removed so listeners do not pile up across publishes.
        if (error) return reject(error);
        this.#stream.off('error', onError);
        resolve();
      });
    });
  }
}
