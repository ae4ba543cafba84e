/**
 * EventBridge adapter of the audit sink: PutEvents with batching by count and size, re-sending of
 * partially failed entries with exponential backoff and full jitter, and no silent loss.
 *
 * Requests go out with bounded concurrency (default DEFAULT_PUT_EVENTS_CONCURRENCY). A quiet pass makes a
 * few calls; a pass that kills 10,000 sessions makes 1,000, and at ~3 ms of SDK and HTTP time each,
 * sequential sending alone would take seconds (measured by `npm run bench`). A small bound keeps the
 * pressure on the account-wide PutEvents quota low; throttled entries are re-sent with backoff anyway.
 * Within one request entries keep decision order; across requests order is by time stamp.
 *
 * Delivery is at-least-once: an entry whose outcome the response does not state is re-sent, because
 * for an audit trail a duplicate (consumers can de-duplicate on runId + time + rule + session) is
 * better than a gap. The response is trusted entry by entry only: an entry counts as delivered when its
 * result carries an EventId, whatever FailedEntryCount says.
 *
 * No request can hang the pass: the client's HTTP handler times out connections and requests
 * (createEventBridgeClient), and a publish with a deadline aborts every request still in flight when it
 * comes (the abortSignal, which also stops the SDK's retry step); what is not delivered by then is reported
 * failed and logged in full.
 *
 * Each request goes out as one signed HTTP request built from the client's own endpoint, signer and HTTP
 * handler (put-events-transport.ts, which says why and how it is held to the SDK's answers).
 */
import { setMaxListeners } from 'node:events';
import { setTimeout as sleepMs } from 'node:timers/promises';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { mapLimit } from '../util/concurrency.ts';
import { EventBridgeClient, type EventBridgeClientConfig, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { signedPutEvents, type PutEventsOutput, type PutEventsTransport } from './put-events-transport.ts';
import type { AuditEvent } from '../pass/audit/events.ts';
import { DEFAULT_AUDIT_REQUEST_TIMEOUT_SECONDS } from '../pass/audit/budget.ts';
import { deadlineReason, logUndelivered, type AuditLogger, type AuditSink, type PublishOptions, type PublishResult } from '../pass/audit/sink.ts';

/**
 * At most 10 entries per PutEvents request: "Entries ... Array Members: Minimum number of 1 item.
 * Maximum number of 10 items." (Amazon EventBridge API Reference, PutEvents,
 * https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutEvents.html).
 */
export const PUT_EVENTS_MAX_ENTRIES = 10;

/**
 * At most 256 KB (262144 bytes) of entries per request, sizes computed as below ("The total entry
 * size must be less than 256KB", "Calculating Amazon EventBridge PutEvents event entry size",
 * https://docs.aws.amazon.com/eventbridge/latest/userguide/calculate-putevents-entry-size.html).
 * The page says "less than" while the quota is stated as 256 KB; we allow exactly 262144, and a
 * request the service still found too large would fail whole as a client fault: reported, not lost.
 */
export const PUT_EVENTS_MAX_BYTES = 262_144;

/** "If specified, the Time parameter is 14 bytes." (same page). */
export const PUT_EVENTS_TIME_BYTES = 14;

/**
 * Entry error codes that re-sending cannot fix, as listed in the SDK's PutEventsResultEntry.ErrorCode
 * documentation (node_modules/@aws-sdk/client-eventbridge/dist-types/models/models_0.d.ts, "Non-retryable
 * errors include"). Those entries fail at once; every other code (InternalFailure, ThrottlingException
 * and any code not known here) is re-sent.
 */
export const NON_RETRYABLE_ENTRY_ERRORS: ReadonlySet<string> = new Set([
  'AccessDeniedException',
  'InvalidAccountIdException',
  'InvalidArgument',
  'MalformedDetail',
  'RedactionFailure',
  'NotAuthorizedForSourceException',
  'NotAuthorizedForDetailTypeException',
]);

/** Throttling error names, which the SDK marks as client faults but which do pass with time. */
const THROTTLING_ERRORS: ReadonlySet<string> = new Set([
  'ThrottlingException',
  'Throttling',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'LimitExceededException',
  'RequestThrottledException',
]);

/**
 * Retry defaults (our choice, no AWS limit behind them): 5 attempts with a 100 ms base wait at most
 * 100 + 200 + 400 + 800 = 1.5 s in total on top of the SDK's own retries of each request, which
 * keeps a stalled audit from eating a Lambda's deadline while riding out a burst of throttling.
 */
export const DEFAULT_MAX_ATTEMPTS = 5;
export const DEFAULT_BASE_DELAY_MS = 100;
/** Cap of any single backoff delay (our choice), relevant only when maxAttempts or the base grow. */
export const DEFAULT_MAX_DELAY_MS = 2_000;

export interface EventBridgeAuditSinkOptions {
  /** Created once per process (createEventBridgeClient) and injected; the sink never destroys it. */
  client: EventBridgeClient;
  eventBusName: string;
  /** Defaults to console: undelivered events are always logged somewhere. */
  logger?: AuditLogger;
  /** Attempts per entry, the first send included. Default DEFAULT_MAX_ATTEMPTS (5). */
  maxAttempts?: number;
  /** Backoff base: the first retry's delay ceiling, doubled on every retry. Default 100 ms. */
  baseDelayMs?: number;
  /** Cap of any single delay. Default DEFAULT_MAX_DELAY_MS. */
  maxDelayMs?: number;
  /** Injected so tests assert on delays instead of waiting for them. */
  sleep?: (ms: number) => Promise<unknown>;
  /** Jitter source in [0, 1); injected for deterministic tests. Default Math.random. */
  random?: () => number;
  /** PutEvents requests in flight at once. Default DEFAULT_PUT_EVENTS_CONCURRENCY. */
  concurrency?: number;
  /**
   * How one request is sent: signedPutEvents(client) by default (put-events-transport.ts says why);
   * sdkPutEvents(client) sends through client.send, which tests with aws-sdk-client-mock intercept.
   */
  transport?: PutEventsTransport;
}

/** Requests in flight per publish: enough to hide HTTP latency, far from the PutEvents TPS quota (our choice). */
export const DEFAULT_PUT_EVENTS_CONCURRENCY = 16;

/**
 * Time to establish a connection to the EventBridge endpoint (our choice: a TCP and TLS handshake with a
 * regional endpoint takes milliseconds), and time for one PutEvents request to be answered, per attempt
 * (DEFAULT_AUDIT_REQUEST_TIMEOUT_SECONDS, which says why).
 */
export const PUT_EVENTS_CONNECTION_TIMEOUT_MS = 3_000;
export const PUT_EVENTS_REQUEST_TIMEOUT_MS = DEFAULT_AUDIT_REQUEST_TIMEOUT_SECONDS * 1000;

/**
 * The standard client: `new EventBridgeClient({})` already reads AWS_REGION (NODE_REGION_CONFIG_OPTIONS,
 * REGION_ENV_NAME = "AWS_REGION" in @smithy/core/dist-es/submodules/config/config-resolver/regionConfig/config.js),
 * the default credential chain (credentialDefaultProvider from @aws-sdk/credential-provider-node, wired in
 * @aws-sdk/client-eventbridge/dist-es/runtimeConfig.js), AWS_MAX_ATTEMPTS / AWS_RETRY_MODE, and the
 * service endpoint from AWS_ENDPOINT_URL_EVENTBRIDGE, then AWS_ENDPOINT_URL
 * (@smithy/core/dist-es/submodules/endpoints/middleware-endpoint/adaptors/getEndpointUrlConfig.js,
 * serviceId "EventBridge" from runtimeConfig.shared.js). The endpoint variables need no flag; only
 * AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true turns them off. So nothing is read here: overrides are
 * for tests and for callers with a reason to differ.
 *
 * What is set here is the HTTP handler's timeouts: without them a connection that is accepted and never
 * answered holds its request forever (the handler's requestTimeout only warns unless
 * throwOnRequestTimeout is set: @smithy/node-http-handler, setRequestTimeout).
 */
export function createEventBridgeClient(overrides: EventBridgeClientConfig = {}, timeouts: { connectionMs?: number; requestMs?: number } = {}): EventBridgeClient {
  return new EventBridgeClient({
    requestHandler: new NodeHttpHandler({
      connectionTimeout: timeouts.connectionMs ?? PUT_EVENTS_CONNECTION_TIMEOUT_MS,
      requestTimeout: timeouts.requestMs ?? PUT_EVENTS_REQUEST_TIMEOUT_MS,
      throwOnRequestTimeout: true,
    }),
    ...overrides,
  });
}

/** Entry size as EventBridge computes it; EventBusName is not counted. */
export function putEventsEntrySize(entry: PutEventsRequestEntry): number {
  let size = entry.Time !== undefined ? PUT_EVENTS_TIME_BYTES : 0;
  size += Buffer.byteLength(entry.Source ?? '', 'utf8');
  size += Buffer.byteLength(entry.DetailType ?? '', 'utf8');
  size += Buffer.byteLength(entry.Detail ?? '', 'utf8');
  for (const resource of entry.Resources ?? []) size += Buffer.byteLength(resource, 'utf8');
  return size;
}

/**
 * Greedy packing in order: a request is closed when the next item would pass either limit. Items
 * must each fit on their own (callers filter oversized ones first).
 */
export function packBatches<T extends { size: number }>(
  items: readonly T[],
  maxEntries = PUT_EVENTS_MAX_ENTRIES,
  maxBytes = PUT_EVENTS_MAX_BYTES,
): T[][] {
  const batches: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const item of items) {
    if (current.length > 0 && (current.length === maxEntries || bytes + item.size > maxBytes)) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push(item);
    bytes += item.size;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}

/** What the requests of one publish share. */
interface SendContext {
  result: PublishResult;
  /** Fires at the publish's deadline. */
  abortSignal: AbortSignal | undefined;
  /** Responses that did not account for every entry (warned about once per publish). */
  inconsistent: number;
}

interface Pending {
  event: AuditEvent;
  entry: PutEventsRequestEntry;
  size: number;
  lastError: string;
}

export class EventBridgeAuditSink implements AuditSink {
  readonly #transport: PutEventsTransport;
  readonly #eventBusName: string;
  readonly #logger: AuditLogger;
  readonly #maxAttempts: number;
  readonly #baseDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #sleep: (ms: number) => Promise<unknown>;
  readonly #random: () => number;
  readonly #concurrency: number;

  constructor(options: EventBridgeAuditSinkOptions) {
    this.#concurrency = Math.max(1, Math.floor(options.concurrency ?? DEFAULT_PUT_EVENTS_CONCURRENCY));
    this.#transport = options.transport ?? signedPutEvents(options.client);
    this.#eventBusName = options.eventBusName;
    this.#logger = options.logger ?? console;
    this.#maxAttempts = Math.max(1, Math.floor(options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS));
    this.#baseDelayMs = options.baseDelayMs ?? DEFAULT_BASE_DELAY_MS;
    this.#maxDelayMs = options.maxDelayMs ?? DEFAULT_MAX_DELAY_MS;
    this.#sleep = options.sleep ?? ((ms) => sleepMs(ms));
    this.#random = options.random ?? Math.random;
  }

  async publish(events: AuditEvent[], options: PublishOptions = {}): Promise<PublishResult> {
    const result: PublishResult = { sent: 0, failed: [], calls: 0 };
    let pending: Pending[] = [];
    for (const event of events) {
      const entry = this.#toEntry(event);
      const size = putEventsEntrySize(entry);
      if (size > PUT_EVENTS_MAX_BYTES) {
        // EventBridge rejects it whatever we do; truncating would forge the audit record.
        this.#fail(result, event, `entry is ${size} bytes, over the PutEvents limit of ${PUT_EVENTS_MAX_BYTES} bytes`);
      } else {
        pending.push({ event, entry, size, lastError: '' });
      }
    }

    const { deadlineMs } = options;
    const deadline = deadlineSignal(deadlineMs, this.#concurrency);
    const round: SendContext = { result, abortSignal: deadline.signal, inconsistent: 0 };
    let cutOff = false;
    try {
      for (let attempt = 1; attempt <= this.#maxAttempts && pending.length > 0; attempt++) {
        if (attempt > 1) {
          const delay = this.backoffDelay(attempt - 1);
          // A wait that would end past the deadline is not started: the entries fail now, logged.
          if (deadlineMs !== undefined && Date.now() + delay >= deadlineMs) {
            cutOff = true;
            break;
          }
          this.#logger.warn(
            `Re-sending ${pending.length} audit event(s) to EventBridge bus ${this.#eventBusName} ` +
              `(attempt ${attempt} of ${this.#maxAttempts}) after ${delay} ms: ${pending[0]?.lastError}`,
          );
          await this.#sleep(delay);
        }
        const batches = packBatches(pending);
        const retries = await mapLimit(batches, this.#concurrency, (batch) => this.#send(batch, round));
        pending = retries.flat();
        if (deadline.signal?.aborted) {
          cutOff = true;
          break;
        }
      }
    } finally {
      deadline.clear();
    }
    if (round.inconsistent > 0) {
      this.#logger.warn(
        `${round.inconsistent} PutEvents response(s) from bus ${this.#eventBusName} did not account for every entry ` +
          '(FailedEntryCount disagreeing with the entries, or entries missing): only entries with an EventId counted as delivered',
      );
    }

    for (const p of pending) {
      const why = cutOff ? deadlineReason(deadlineMs!, 'not delivered') : `not delivered after ${this.#maxAttempts} attempts`;
      this.#fail(result, p.event, p.lastError ? `${why}: ${p.lastError}` : why);
    }
    return result;
  }

  /**
   * Full jitter ("Exponential Backoff And Jitter", AWS Architecture Blog, 2015): a uniform delay in
   * [0, min(cap, base * 2^(retry-1))). Jitter spreads the retries of concurrent reapers (one per
   * cluster) so they do not hit a throttled bus in lockstep.
   */
  backoffDelay(retry: number): number {
    const ceiling = Math.min(this.#maxDelayMs, this.#baseDelayMs * 2 ** (retry - 1));
    return Math.floor(this.#random() * ceiling);
  }

  /** Sends one request; returns the entries to re-send. */
  async #send(batch: Pending[], round: SendContext): Promise<Pending[]> {
    const { result, abortSignal } = round;
    let response: PutEventsOutput;
    if (abortSignal?.aborted) return batch;
    result.calls++;
    try {
      response = await this.#transport(batch.map((p) => p.entry), abortSignal);
    } catch (error) {
      if (abortSignal?.aborted) {
        // Cut off by the deadline: whether EventBridge got the request is unknown, so the entries
        // count as not delivered (and are logged in full by publish).
        for (const p of batch) p.lastError = 'the PutEvents request had not completed';
        return batch;
      }
      // The SDK has already retried throttling and transient errors of the whole request; we retry
      // them again across a longer window, but a client fault (access denied, no such bus,
      // validation) fails the same way every time, so those entries fail now.
      const reason = describeError(error);
      if (!isRetryableRequestError(error)) {
        for (const p of batch) this.#fail(result, p.event, `PutEvents request failed: ${reason}`);
        return [];
      }
      for (const p of batch) p.lastError = `PutEvents request failed: ${reason}`;
      return batch;
    }

    // The SDK never retries partial failures: the request succeeded, and only the response says that
    // some entries were not accepted. Response entries are positional (same index as the request:
    // "The order of the entries in the response is the same as the order of the entries in the
    // request", PutEvents, Amazon EventBridge API Reference). FailedEntryCount is not trusted on its
    // own: an entry is delivered only when its own result has an EventId.
    const entries = response.Entries ?? [];
    const claimed = response.FailedEntryCount ?? 0;
    const reported = entries.slice(0, batch.length).filter((e) => e?.ErrorCode || !e?.EventId).length + Math.max(0, batch.length - entries.length);
    if (entries.length !== batch.length || claimed !== reported) round.inconsistent++;
    const retry: Pending[] = [];
    batch.forEach((p, i) => {
      const outcome = entries[i];
      if (outcome?.ErrorCode) {
        const reason = `${outcome.ErrorCode}: ${outcome.ErrorMessage ?? 'no message'}`;
        if (NON_RETRYABLE_ENTRY_ERRORS.has(outcome.ErrorCode)) this.#fail(result, p.event, reason);
        else {
          p.lastError = reason;
          retry.push(p);
        }
      } else if (outcome?.EventId) {
        result.sent++;
      } else {
        p.lastError = outcome ? 'PutEvents response gave this entry neither an EventId nor an ErrorCode' : 'PutEvents response did not report this entry';
        retry.push(p);
      }
    });
    return retry;
  }

  #toEntry(event: AuditEvent): PutEventsRequestEntry {
    return {
      Time: event.time,
      Source: event.source,
      DetailType: event.detailType,
      Detail: JSON.stringify(event.detail),
      EventBusName: this.#eventBusName,
      Resources: [],
    };
  }

  #fail(result: PublishResult, event: AuditEvent, error: string): void {
    result.failed.push({ event, error });
    logUndelivered(this.#logger, `eventbridge:${this.#eventBusName}`, event, error);
  }
}

/**
 * An AbortSignal that fires at the deadline (none without one); clear() stops its timer. Every request in
 * flight listens to it, the SDK's retry step and its HTTP handler once each (@smithy/core retry and
 * @smithy/node-http-handler; both remove their listener when the request ends), so `concurrency`
 * requests hold up to twice that many listeners: the limit is raised to match, or Node would warn of a leak
 * past its default of 10.
 */
function deadlineSignal(deadlineMs: number | undefined, concurrency: number): { signal: AbortSignal | undefined; clear(): void } {
  if (deadlineMs === undefined) return { signal: undefined, clear: () => {} };
  const controller = new AbortController();
  setMaxListeners(Math.max(10, 2 * concurrency + 2), controller.signal);
  const timer = setTimeout(() => controller.abort(new Error('audit deadline reached')), Math.max(0, deadlineMs - Date.now()));
  if (deadlineMs <= Date.now()) controller.abort(new Error('audit deadline reached'));
  return { signal: controller.signal, clear: () => clearTimeout(timer) };
}

function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}

/** Throttling, server faults and errors without a fault (network, timeout) pass with time. */
function isRetryableRequestError(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return true;
  const e = error as { name?: unknown; $fault?: unknown; $retryable?: unknown };
  if (e.$retryable) return true;
  if (typeof e.name === 'string' && THROTTLING_ERRORS.has(e.name)) return true;
  return e.$fault !== 'client';
}
