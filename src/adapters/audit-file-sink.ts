/**
 * JSON-lines file adapter of the audit sink: one EventBridge-shaped envelope per line (see
 * toEventEnvelope), appended. Each publish is one append of all its lines, and publishes are
 * serialised, so a batch's lines are contiguous and never interleave with another batch's. close()
 * fsyncs before closing, so a CLI run that reports success has its audit trail on disk.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { toJsonLines, type AuditEvent, type EnvelopeOptions } from '../pass/audit/events.ts';
import { allFailed, deadlineReason, logUndelivered, withinDeadline, type AuditLogger, type AuditSink, type PublishOptions, type PublishResult } from '../pass/audit/sink.ts';

export interface FileAuditSinkOptions extends EnvelopeOptions {
  path: string;
  /** Defaults to console. */
  logger?: AuditLogger;
}

export class FileAuditSink implements AuditSink {
  readonly path: string;
  readonly #logger: AuditLogger;
  readonly #envelope: EnvelopeOptions;
  #handle: Promise<FileHandle> | undefined;
  // Publishes run one after another: concurrent appends through one handle could interleave.
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;

  constructor(options: FileAuditSinkOptions) {
    this.path = options.path;
    this.#logger = options.logger ?? console;
    this.#envelope = {
      account: options.account ?? '',
      region: options.region ?? process.env.AWS_REGION ?? '',
      ...(options.newId ? { newId: options.newId } : {}),
    };
  }

  publish(events: AuditEvent[], options: PublishOptions = {}): Promise<PublishResult> {
    // A file system that stops answering (a hung network mount) must not hold the pass either.
    const { deadlineMs } = options;
    return withinDeadline((cutOff) => {
      const run = this.#queue.then(() => this.#append(events, cutOff));
      this.#queue = run.catch(() => undefined);
      return run;
    }, deadlineMs, () => this.#failAll(events, deadlineReason(deadlineMs!, `not appended to ${this.path}`), 0));
  }

  async close(): Promise<void> {
    await this.#queue;
    this.#closed = true;
    const pending = this.#handle;
    this.#handle = undefined;
    if (!pending) return;
    const handle = await pending;
    try {
      await handle.sync().catch((e: NodeJS.ErrnoException) => {
        // "EROFS, EINVAL: fd is bound to a special file (e.g., a pipe, FIFO, or socket) which does not support
        // synchronization" (fsync(2)): /dev/null or a pipe holds nothing to flush; every line was written.
        if (e.code !== 'EINVAL' && e.code !== 'EROFS') throw e;
      });
    } finally {
      await handle.close();
    }
  }

  /** `cutOff()` is true once a deadline gave up on this append: its events are logged already. */
  async #append(events: AuditEvent[], cutOff: () => boolean = () => false): Promise<PublishResult> {
    if (events.length === 0) return { sent: 0, failed: [], calls: 0 };
    if (this.#closed) return this.#failAll(events, `file sink for ${this.path} is closed`, 0);
    try {
      const handle = await this.#open();
      const data = Buffer.from(toJsonLines(events, this.#envelope), 'utf8');
      // One write call; the loop only continues if the OS accepted part of the buffer.
      let offset = 0;
      while (offset < data.length) {
        const { bytesWritten } = await handle.write(data, offset, data.length - offset);
        offset += bytesWritten;
      }
      return { sent: events.length, failed: [], calls: 1 };
    } catch (error) {
      const reason = `cannot append to ${this.path}: ${error instanceof Error ? error.message : String(error)}`;
      return cutOff() ? allFailed(events, reason, 1) : this.#failAll(events, reason, 1);
    }
  }

  #open(): Promise<FileHandle> {
    if (!this.#handle) {
      const opening = open(this.path, 'a');
      // Forget a failed open so the next publish tries again (e.g. the directory appeared).
      opening.catch(() => {
        if (this.#handle === opening) this.#handle = undefined;
      });
      this.#handle = opening;
    }
    return this.#handle;
  }

  #failAll(events: AuditEvent[], reason: string, calls: number): PublishResult {
    for (const event of events) logUndelivered(this.#logger, `file:${this.path}`, event, reason);
    return allFailed(events, reason, calls);
  }
}
