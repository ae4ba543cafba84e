/**
 * CloudWatch metrics of every pass, in Embedded Metric Format through Powertools for AWS Lambda's Metrics
 * (one JSON document per line on stdout; CloudWatch Logs extracts the metrics, no PutMetricData call).
 *
 * Namespace MongoDBSessionReaper (the audit log's metric filter, infra/alarms.yml, adds KilledDecisions to it). Per pass:
 *   dimensions {service, cluster}:        SessionsSeen, SessionsKilled, KillsFreedNothing, KillsFailed, KillsPlanned,
 *                                         KillsSkipped, OperationsFreed, TransactionsAborted, CursorsFreed,
 *                                         PassDuration (ms), AuditEventsUndelivered, PassFailed, MembersNotCovered
 * SessionsKilled counts the kills that freed something (an operation interrupted, a transaction aborted,
 * cursors closed); KillsFreedNothing the kills of targets that held nothing (only a rule naming holdsNothing
 * makes those), so an alarm on SessionsKilled watches what was actually taken away from clients.
 * OperationsFreed, TransactionsAborted and CursorsFreed are what those kills freed: the sums of the killed
 * decisions' `freed` (operations interrupted, unprepared transactions aborted, cursors closed).
 *   dimensions {service, cluster, rule, outcome}:  Decisions, one per rule and outcome of the pass's kill rules
 *   dimensions {service} (fleet-wide, for alarms): AuditEventsUndelivered, KillsFailed, MembersNotCovered
 * A CloudWatch alarm watches one exact set of dimensions, hence the fleet-wide copies (infra/alarms.yml).
 *
 * A pass that failed before it had a report (it could not connect, or take its lease) publishes the
 * {service, cluster} document with PassFailed 1, its PassDuration, and 0 for what it cannot have done (no kill,
 * no audit event); SessionsSeen and MembersNotCovered, which it does not know, are left out.
 */
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { RunReport } from '../../pass/pass.ts';
import { SERVICE_NAME } from './log.ts';

export const METRICS_NAMESPACE = 'MongoDBSessionReaper';

const metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: SERVICE_NAME });
/** The fleet-wide copies: dimension {service} only. Created once, as `metrics` is (each one builds its own console). */
const fleetMetrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: SERVICE_NAME });
/**
 * The per rule and outcome Decisions documents: one single-metric instance (each addMetric publishes at once and
 * clears its dimension set), reused. `metrics.singleMetric()` would build a new Metrics, and with it a console and
 * a read of the environment, per rule and outcome of every pass; the documents written are the same (the same
 * namespace and default dimension {service}).
 */
const decisionMetrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: SERVICE_NAME, singleMetric: true });

/** The {service, cluster} document of one pass; a value left undefined is not known, and not published. */
interface ClusterDocument {
  SessionsSeen?: number;
  SessionsKilled: number;
  KillsFreedNothing: number;
  KillsFailed: number;
  KillsPlanned: number;
  KillsSkipped: number;
  OperationsFreed: number;
  TransactionsAborted: number;
  CursorsFreed: number;
  PassDuration: number;
  AuditEventsUndelivered: number;
  PassFailed: number;
  MembersNotCovered?: number;
}

function publishClusterDocument(cluster: string, doc: ClusterDocument): void {
  metrics.addDimension('cluster', cluster);
  for (const [name, value] of Object.entries(doc) as [keyof ClusterDocument, number | undefined][]) {
    if (value !== undefined) metrics.addMetric(name, name === 'PassDuration' ? MetricUnit.Milliseconds : MetricUnit.Count, value);
  }
  metrics.publishStoredMetrics();
}

/** What the pass's kills freed: the sums of the killed decisions' `freed`. */
function freedByKills(report: Pick<RunReport, 'decisions'>): { operations: number; transactionsAborted: number; cursors: number } {
  const sum = { operations: 0, transactionsAborted: 0, cursors: 0 };
  for (const d of report.decisions) {
    if (d.outcome !== 'killed' || !d.freed) continue;
    sum.operations += d.freed.operations;
    sum.transactionsAborted += d.freed.transactionAborted ? 1 : 0;
    sum.cursors += d.freed.cursors;
  }
  return sum;
}

export function publishPassMetrics(report: RunReport): void {
  const c = report.counts;
  const freed = freedByKills(report);
  publishClusterDocument(report.cluster, {
    SessionsSeen: c.sessions + c.sessionlessOps,
    SessionsKilled: c.killed - c.killedHoldingNothing,
    KillsFreedNothing: c.killedHoldingNothing,
    KillsFailed: c.failed,
    KillsPlanned: c.planned,
    KillsSkipped: c.skipped,
    OperationsFreed: freed.operations,
    TransactionsAborted: freed.transactionsAborted,
    CursorsFreed: freed.cursors,
    PassDuration: report.durationMs,
    AuditEventsUndelivered: report.audit.failed,
    PassFailed: report.error ? 1 : 0,
    MembersNotCovered: membersNotCovered(report),
  });

  const byRuleAndOutcome = new Map<string, { rule: string; outcome: string; n: number }>();
  for (const d of report.decisions) {
    if (d.action !== 'kill') continue;
    const key = `${d.rule}\u0000${d.outcome}`;
    const entry = byRuleAndOutcome.get(key) ?? { rule: d.rule, outcome: d.outcome, n: 0 };
    entry.n++;
    byRuleAndOutcome.set(key, entry);
  }
  for (const { rule, outcome, n } of byRuleAndOutcome.values()) {
    decisionMetrics.addDimensions({ cluster: report.cluster, rule, outcome });
    decisionMetrics.addMetric('Decisions', MetricUnit.Count, n);
  }

  fleetMetrics.addMetric('AuditEventsUndelivered', MetricUnit.Count, report.audit.failed);
  fleetMetrics.addMetric('KillsFailed', MetricUnit.Count, c.failed);
  fleetMetrics.addMetric('MembersNotCovered', MetricUnit.Count, membersNotCovered(report));
  fleetMetrics.publishStoredMetrics();
}

/** The metrics of a pass that failed before it had a report (see the header): PassFailed 1 for its cluster. */
export function publishFailedPassMetrics(cluster: string, durationMs: number): void {
  publishClusterDocument(cluster, {
    SessionsKilled: 0, KillsFreedNothing: 0, KillsFailed: 0, KillsPlanned: 0, KillsSkipped: 0,
    OperationsFreed: 0, TransactionsAborted: 0, CursorsFreed: 0,
    PassDuration: durationMs, AuditEventsUndelivered: 0, PassFailed: 1,
  });
}

/**
 * Data-bearing members the pass was meant to read and could not (down, unreachable, refusing the reaper, or before
 * MongoDB 7.1 without the shard-local user): 0 on a standalone. Members left out by choice (--members primary,
 * REAPER_MEMBERS=primary; `byChoice`) are not counted: that is how primaries-only coverage is accepted.
 * Through mongos with no shard listed at all (getShardMap, listShards and config.shards all refused), how many
 * members went unread is not known: that counts as one, so the alarm does not stay quiet over a blind spot.
 */
export function membersNotCovered(report: Pick<RunReport, 'coverage'>): number {
  const coverage = report.coverage;
  if (!coverage) return 0;
  const unlisted = coverage.topology === 'mongos' && !coverage.members.some((m) => m.state !== 'MONGOS') ? 1 : 0;
  return coverage.members.filter((m) => !m.covered && !m.byChoice).length + unlisted;
}
