/**
 * The audit event model. Every decision that acts, and every run summary, leaves the reaper as one
 * event: an EventBridge `Source` + `DetailType` and a schema-versioned JSON `Detail`. The types
 * here mirror schemas/audit-event.v1.json, which is the contract for consumers (rules, archives,
 * SIEM pipelines); src/pass/audit/schema.ts validates against that file so the two cannot drift apart
 * unnoticed in tests.
 */
import { randomUUID } from 'node:crypto';
import { printableJson } from '../../util/terminal.ts';

/**
 * Bumped on any change to the Detail shape; consumers match on it (`detail.schemaVersion`). 1.1 added
 * the run summary's optional `killFailures` and `audit`; 1.2 the decision's optional `members` and `freed`, the run
 * summary's optional `coverage` and `counts.killedHoldingNothing`. An earlier detail is still valid under the schema.
 */
export const AUDIT_SCHEMA_VERSION = '1.2';

/** Every version schemas/audit-event.v1.json accepts: the trail written by earlier releases stays readable. */
export type AuditSchemaVersion = '1.0' | '1.1' | '1.2';

/** Default EventBridge `Source`; configurable because some organisations reserve a prefix per team. */
export const DEFAULT_AUDIT_SOURCE = 'mongodb.session-reaper';

export const DETAIL_TYPES = {
  planned: 'Session Kill Planned',
  killed: 'Session Killed',
  skipped: 'Session Kill Skipped',
  failed: 'Session Kill Failed',
  run: 'Reaper Run Completed',
} as const;

export type DetailType = (typeof DETAIL_TYPES)[keyof typeof DETAIL_TYPES];

export type Outcome = 'planned' | 'killed' | 'skipped' | 'failed';

export interface TriggerInfo {
  type: 'schedule' | 'alarm' | 'atlas-alert' | 'manual' | 'cli' | 'demo';
  name?: string;
  id?: string;
}

export interface SessionRef {
  /** Session id, canonical UUID string. */
  id: string;
  /** Session uid, 64 lowercase hex digits (SHA-256 of "user@db"). */
  uid: string;
  user: string;
  /** null: unknown (no document of the session named its client in this pass or, through sightings, before). */
  appName: string | null;
  client: string | null;
}

export interface DecisionDetail {
  schemaVersion: AuditSchemaVersion;
  kind: 'decision';
  runId: string;
  cluster: string;
  trigger: TriggerInfo;
  /** ISO 8601 instant of the decision. */
  time: string;
  dryRun: boolean;
  target: 'session' | 'operation';
  /** null for a sessionless operation. */
  session: SessionRef | null;
  operation: { opid: string } | null;
  rule: string;
  action: 'kill' | 'protect' | 'report';
  reason: string;
  /** The facts that matched: the evidence for the decision. */
  facts: Record<string, unknown>;
  outcome: Outcome;
  /** Why nothing was done; required when outcome is "skipped". */
  why?: string;
  /** What the server said; required when outcome is "failed". */
  error?: { code?: number; codeName?: string; message: string };
  /** Which killSessions / killOp batch carried this kill, when batched (counted per member on a replica set). */
  killBatch?: { index: number; size: number };
  /**
   * Replica-set members (host:port) where the session or operation held something, and, once the kill was
   * sent, what it did on each; absent on a standalone, through mongos, or with --members primary.
   */
  members?: { host: string; outcome?: 'killed' | 'failed' | 'not-attempted'; error?: string }[];
  /** What the kill freed (outcome "killed", schema 1.2 on): all zero and false when the target held nothing. */
  freed?: Freed;
}

/**
 * What a kill freed: what the target held at the re-check right before its kill batch, which the kill ends
 * (killSessions interrupts a session's operations, aborts its unprepared transaction and closes its cursors;
 * killOp interrupts the operation). A prepared transaction is never aborted by a kill, so it is not counted.
 */
export interface Freed {
  operations: number;
  transactionAborted: boolean;
  cursors: number;
}

export interface RunCounts {
  sessions: number;
  sessionlessOps: number;
  decisions: number;
  planned: number;
  killed: number;
  skipped: number;
  failed: number;
  protected: number;
  reported: number;
  killSessionsCalls: number;
  killOpCalls: number;
  stillRunning: number;
  /** Kills that freed nothing: the target held no operation, transaction or cursor (a rule naming holdsNothing). */
  killedHoldingNothing: number;
}

export interface StillRunningOp {
  /** "" when the operation had no session. */
  sessionId: string;
  /** "" when the operation had no session. */
  uid: string;
  opid: string;
  secsRunning: number;
  /** The replica-set member it still runs on (since 1.2); absent on a standalone. */
  member?: string;
}

export interface RunSummaryDetail {
  schemaVersion: AuditSchemaVersion;
  kind: 'run';
  runId: string;
  cluster: string;
  trigger: TriggerInfo;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  dryRun: boolean;
  reportOnly: boolean;
  reportOnlyReason: string | null;
  counts: RunCounts;
  stillRunning: StillRunningOp[];
  /** What was not done, e.g. stopped before the Lambda deadline. */
  unfinished?: string;
  error?: { message: string };
  /** Which kills failed and why, grouped by error (since 1.1; present when counts.failed > 0). */
  killFailures?: KillFailureGroup[];
  /**
   * Delivery of this run's other events, as known when the summary was sent (since 1.1): `events`
   * decision events, of which `undelivered` did not reach the sink and were logged in full instead.
   */
  audit?: { events: number; undelivered: number };
  /** What the URI pointed at and which members the pass read; absent from reapers before topology discovery. */
  coverage?: {
    topology: 'standalone' | 'replicaSet' | 'mongos';
    setName: string;
    members: { host: string; state: string; covered: boolean; why?: string; hidden?: boolean; byChoice?: boolean }[];
    notes: string[];
  };
}

/** Failed kills that share one error (src/pass/kill-failures.ts). */
/** Kept in src/util/errors.ts, which the Lambda's KillsFailedError carries it from (util imports nothing of ours). */
export type { KillFailureGroup } from '../../util/errors.ts';
import type { KillFailureGroup } from '../../util/errors.ts';

export type AuditDetail = DecisionDetail | RunSummaryDetail;

export interface AuditEvent {
  source: string;
  detailType: DetailType;
  time: Date;
  detail: AuditDetail;
}

export function detailTypeFor(detail: AuditDetail): DetailType {
  return detail.kind === 'run' ? DETAIL_TYPES.run : DETAIL_TYPES[detail.outcome];
}

/**
 * An event as EventBridge delivers it to targets ("Amazon EventBridge events" / event structure
 * reference: https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-events-structure.html).
 * The file and stdout sinks write this shape so that anything built to consume the bus (a rule's
 * Lambda target, an archive replay, jq filters on `.detail`) reads their output unchanged.
 */
export interface EventEnvelope {
  version: '0';
  id: string;
  'detail-type': DetailType;
  source: string;
  account: string;
  time: string;
  region: string;
  resources: string[];
  detail: AuditDetail;
}

export interface EnvelopeOptions {
  /** AWS account id; "" when unknown (outside AWS nobody knows it without an STS call). */
  account?: string;
  /** AWS region; defaults to "" (callers pass process.env.AWS_REGION). */
  region?: string;
  /** Event id generator; EventBridge assigns a UUID, so do we. Injectable for deterministic tests. */
  newId?: () => string;
}

/** The millisecond isoTime formatted last, and its text. */
let formattedMs = Number.NaN;
let formatted = '';

/**
 * time.toISOString(), formatted once per millisecond: a pass records its decisions in a tight loop (a dry run
 * of 2,000 sessions ~200 in the same few ms), and toISOString costs about as much as the rest of the event.
 * An invalid Date (NaN) never equals the remembered millisecond, so it still throws as toISOString does.
 */
export function isoTime(time: Date): string {
  const ms = time.getTime();
  if (ms !== formattedMs) {
    formatted = time.toISOString();
    formattedMs = ms;
  }
  return formatted;
}

/**
 * EventBridge delivers `time` with second precision ("2024-05-01T12:00:00Z"); match it. toISOString always ends in
 * ".sssZ"; isoTime formats each millisecond once (the events of one publish were mostly recorded in the same few).
 */
export function envelopeTime(time: Date): string {
  return `${isoTime(time).slice(0, -5)}Z`;
}

export function toEventEnvelope(event: AuditEvent, options: EnvelopeOptions = {}): EventEnvelope {
  return {
    version: '0',
    id: (options.newId ?? randomUUID)(),
    'detail-type': event.detailType,
    source: event.source,
    account: options.account ?? '',
    time: envelopeTime(event.time),
    region: options.region ?? '',
    resources: [],
    detail: event.detail,
  };
}

/** One event, fully, as a JSON object for logs: used wherever an event could not be delivered. */
export function eventForLog(event: AuditEvent): { source: string; detailType: DetailType; time: string; detail: AuditDetail } {
  return { source: event.source, detailType: event.detailType, time: event.time.toISOString(), detail: event.detail };
}

/** The JSON-lines form shared by the file and stdout sinks: one envelope per line. */
export function toJsonLines(events: readonly AuditEvent[], options: EnvelopeOptions = {}): string {
  // printableJson: the same JSON, but an appName's C1 controls or bidi overrides reach no terminal raw (stdout sink, demo).
  // One pass of the escaping over the whole text: it rewrites single characters, none of them a line break.
  return printableJson(events.map((event) => `${JSON.stringify(toEventEnvelope(event, options))}\n`).join(''));
}
