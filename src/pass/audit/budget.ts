/**
 * How long the audit of one pass may take, so that a stalled destination cannot hold the pass, and so
 * that what it could not deliver is still logged in full before the process may be stopped (the rule:
 * no kill without a delivered or fully logged audit event). Two bounds, the earlier wins:
 *  - an absolute deadline (Lambda: the invocation's end less AUDIT_LOG_MARGIN_MS, src/service/app.ts),
 *    less the time logging the events of the publish would take (`logMsPerEvent` each);
 *  - a timeout counted from the pass's first publish (REAPER_AUDIT_TIMEOUT_SECONDS / --audit-timeout),
 *    shared by all its publishes.
 * The absolute deadline also bounds the kill stage: a kill started later could not have its event sent
 * and, failing that, logged in time.
 * Wall-clock time (Date.now): sinks enforce the deadline with real timers, whatever clock the pass was
 * given for its own decisions.
 */
/**
 * Default time one request of the audit (a PutEvents call) may go unanswered before it is abandoned and
 * retried on a fresh connection (REAPER_AUDIT_REQUEST_TIMEOUT_SECONDS; our choice). EventBridge answers a
 * PutEvents call of at most 256 KB in tens of milliseconds (the local responder of `npm run bench` in
 * ~3 ms); a request unanswered for seconds is on a dead connection (a keep-alive socket a NAT dropped while
 * the Lambda container was frozen) or a stalled endpoint, and a new attempt is the better use of the
 * time left. Slow stand-ins (moto delivers each entry to a rule's targets in about a second) need more.
 */
export const DEFAULT_AUDIT_REQUEST_TIMEOUT_SECONDS = 5;

export interface AuditBudget {
  /** Epoch ms by which a publish of `events` events starting now must end; undefined when unbounded. */
  deadline(events: number): number | undefined;
  /** Epoch ms after which none of `kills` planned kills may start; undefined when unbounded. */
  killCutoff(kills: number): number | undefined;
}

export interface AuditBudgetOptions {
  deadlineMs?: number;
  timeoutMs?: number;
  /** Time kept, per event, for logging it in full should it not be delivered. Default 0. */
  logMsPerEvent?: number;
  /** Injected for tests. Default Date.now. */
  now?: () => number;
}

/** The earliest of the deadlines given; undefined when none is. */
export function earliest(...deadlines: (number | undefined)[]): number | undefined {
  const given = deadlines.filter((d): d is number => d !== undefined);
  return given.length ? Math.min(...given) : undefined;
}

export function auditBudget(options: AuditBudgetOptions): AuditBudget {
  const now = options.now ?? Date.now;
  const perEvent = options.logMsPerEvent ?? 0;
  const { deadlineMs, timeoutMs } = options;
  let firstPublish: number | undefined;
  const logged = (events: number): number | undefined => (deadlineMs === undefined ? undefined : deadlineMs - Math.ceil(events * perEvent));
  return {
    deadline(events) {
      firstPublish ??= now();
      return earliest(logged(events), timeoutMs === undefined ? undefined : firstPublish + timeoutMs);
    },
    // The kill events and the run summary may all need logging.
    killCutoff: (kills) => logged(kills + 1),
  };
}
