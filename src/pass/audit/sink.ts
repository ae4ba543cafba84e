/**
 * The audit sink port: where events go. Adapters: EventBridge (production), a JSON-lines file and
 * stdout (CLI, local runs, piping into jq), in memory (tests, demo).
 *
 * Contract, for every adapter:
 * - publish() resolves for delivery failures and reports them in `failed`, one entry per event not
 *   delivered, with the reason; it does not reject. The caller decides whether an undelivered
 *   audit trail is fatal (see assertDelivered), and a sink never drops an event silently: whatever
 *   it reports failed it has also logged at error level with the full event.
 * - `sent + failed.length === events.length`.
 * - With `deadlineMs`, publish() resolves by then (give or take a timer tick): whatever is not delivered
 *   by the deadline is reported failed and logged in full, so a stalled destination cannot hold the
 *   pass past its time, nor past the moment the logging of its events must happen.
 * - close() flushes and releases resources; publishing after close reports every event failed.
 */
import { AuditDeliveryError } from '../../util/errors.ts';
import { eventForLog, type AuditEvent } from './events.ts';

export interface PublishResult {
  /** Events delivered. */
  sent: number;
  /** Events not delivered, each with the reason. */
  failed: { event: AuditEvent; error: string }[];
  /** Requests made to the destination (PutEvents calls, file writes, stream writes). */
  calls: number;
}

export interface PublishOptions {
  /** Epoch ms by which publish() must have resolved; what is not delivered by then fails (logged). */
  deadlineMs?: number;
}

export interface AuditSink {
  publish(events: AuditEvent[], options?: PublishOptions): Promise<PublishResult>;
  close?(): Promise<void>;
}

/** The reason given for events a deadline cut off, so every sink words it the same way. */
export function deadlineReason(deadlineMs: number, what: string): string {
  return `${what} before the audit deadline (${new Date(deadlineMs).toISOString()})`;
}

/**
 * Runs `work` but settles by the deadline: with its result, or with `onTimeout()` when the deadline
 * comes first. The work is left to finish or fail on its own and its late result is ignored; it gets
 * `cutOff()` to ask whether that happened, so that it does not log events a second time. Without a
 * deadline it is just `work`.
 */
export async function withinDeadline<T>(work: (cutOff: () => boolean) => Promise<T>, deadlineMs: number | undefined, onTimeout: () => T): Promise<T> {
  let late = false;
  const running = work(() => late);
  if (deadlineMs === undefined) return running;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<T>((resolve) => {
    timer = setTimeout(() => {
      late = true;
      resolve(onTimeout());
    }, Math.max(0, deadlineMs - Date.now()));
  });
  try {
    return await Promise.race([running, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The logging surface sinks need. Structurally compatible with the Powertools Logger and with
 * `console`, so either can be injected without an adapter.
 */
export interface AuditLogger {
  error(message: string, ...extra: unknown[]): void;
  warn(message: string, ...extra: unknown[]): void;
  debug?(message: string, ...extra: unknown[]): void;
}

/**
 * Logs one undelivered event as a single JSON line that carries the whole event, so the audit
 * record survives in the logs (CloudWatch Logs in Lambda) even though it never reached its sink.
 */
export function logUndelivered(logger: AuditLogger, sink: string, event: AuditEvent, reason: string): void {
  logger.error(JSON.stringify({ message: 'Audit event not delivered', sink, reason, event: eventForLog(event) }));
}

/** A result in which every event failed for the same reason (e.g. the file could not be opened). */
export function allFailed(events: AuditEvent[], error: string, calls = 0): PublishResult {
  return { sent: 0, failed: events.map((event) => ({ event, error })), calls };
}

/** Throws AuditDeliveryError when any event was not delivered, naming how many and the first reasons. */
export function assertDelivered(result: PublishResult, sink = 'audit sink'): void {
  if (result.failed.length === 0) return;
  const reasons = [...new Set(result.failed.map((f) => f.error))].slice(0, 3).join('; ');
  throw new AuditDeliveryError(
    `${result.failed.length} audit event(s) not delivered to ${sink} after retries (${reasons}); ` +
      'the events were logged in full at error level: check permissions and the sink configuration',
  );
}
