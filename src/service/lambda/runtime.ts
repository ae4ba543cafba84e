/**
 * What every Lambda handler shares within one container: the logger (which redacts connection
 * strings in everything it prints), the one Reaper (configuration, policy sets, MongoClients,
 * secrets cache, cluster leases), and the mapping of a pass's outcome to the invocation's result.
 *
 * The Reaper is created once per container, at module initialisation (top-level await in
 * functions/reaper.ts), so a bad configuration fails the init phase, loudly, before any event is taken.
 */
import type { Context } from 'aws-lambda';
import { AUDIT_LOG_MARGIN_MS, createReaper, DEADLINE_MARGIN_MS, type PassRequest, type Reaper } from '../app.ts';
import { AuditDeliveryError, KillsFailedError, PassInProgressError, ReaperError } from '../../util/errors.ts';
import { describeKillFailures } from '../../pass/kill-failures.ts';
import { PASS_FAILURE, type RunReport } from '../../pass/pass.ts';
import { redactError, redactUri } from '../../util/redact.ts';
import type { PassPlan, TriggerDecision } from '../triggers.ts';
import { randomUUID } from 'node:crypto';
import { logger } from './log.ts';
import { publishFailedPassMetrics, publishPassMetrics } from './metrics.ts';

export type InvocationContext = Pick<Context, 'getRemainingTimeInMillis' | 'awsRequestId'>;

export { logger };

let shared: Promise<Reaper> | null = null;

/** The container's Reaper; a start-up error is redacted before the Lambda runtime prints it. */
export function sharedReaper(): Promise<Reaper> {
  shared ??= createReaper(process.env, logger).catch((e: unknown) => {
    throw redactError(e);
  });
  return shared;
}

/** Closes the container's MongoClients (tests; Lambda itself just freezes the container). */
export async function closeSharedReaper(): Promise<void> {
  const r = shared;
  shared = null;
  await (await r?.catch(() => null))?.close();
}

/**
 * The pass's deadlines in this invocation: no kill is started after `deadlineMs`, and the audit's
 * publishing ends by `auditDeadlineMs` (AUDIT_LOG_MARGIN_MS before the end, less the time to log each
 * event of the publish, src/service/app.ts), so that whatever was not delivered is logged in full before
 * Lambda ends the invocation.
 */
export function deadlinesOf(context: InvocationContext): { deadlineMs: number; auditDeadlineMs: number } {
  const end = Date.now() + context.getRemainingTimeInMillis();
  return { deadlineMs: end - DEADLINE_MARGIN_MS, auditDeadlineMs: end - AUDIT_LOG_MARGIN_MS };
}

export interface PassResult {
  runId: string;
  cluster: string;
  policySet: string;
  trigger: RunReport['trigger'];
  dryRun: boolean;
  reportOnly: boolean;
  counts: RunReport['counts'];
  unfinished: string | null;
  /** Audit events the pass produced (all delivered unless auditFailed > 0). */
  auditEvents: number;
  auditFailed: number;
  error: string | null;
  /** The sessions and operations killed (or whose kill failed), the first RESULT_MAX_ROWS of them. */
  kills: Pick<RunReport['decisions'][number], 'target' | 'sessionId' | 'uid' | 'opid' | 'user' | 'rule' | 'reason' | 'outcome'>[];
}

/**
 * Rows (kills, or a manual request's decisions) listed in an invocation's result and its completion log
 * line (our choice): enough for an operator to see what happened; the audit trail has every one. Keeps the
 * result far below Lambda's 6 MB response payload limit ("Lambda quotas", AWS Lambda Developer Guide) and the
 * log line below CloudWatch Logs' 256 KB event limit ("CloudWatch Logs quotas", Amazon CloudWatch Logs User
 * Guide), whatever the cluster's size and REAPER_MAX_KILLS allow.
 */
export const RESULT_MAX_ROWS = 100;

export type HandlerResult = PassResult | { ignored: string } | { skipped: string; cluster: string };

export function summarize(report: RunReport, policySet: string): PassResult {
  return {
    runId: report.runId, cluster: report.cluster, policySet, trigger: report.trigger, dryRun: report.dryRun,
    reportOnly: report.reportOnly, counts: report.counts, unfinished: report.unfinished,
    auditEvents: report.audit.events, auditFailed: report.audit.failed, error: report.error === null ? null : redactUri(report.error),
    kills: report.decisions.filter((d) => d.outcome === 'killed' || d.outcome === 'failed').slice(0, RESULT_MAX_ROWS)
      .map((d) => ({ target: d.target, sessionId: d.sessionId, uid: d.uid, opid: d.opid, user: d.user, rule: d.rule, reason: d.reason, outcome: d.outcome })),
  };
}

/**
 * A failed pass, one whose audit did not all arrive, or one in which kills failed fails the invocation:
 * the failed-pass alarm counts Lambda errors, and an asynchronous invocation that fails goes to the
 * on-failure queue. When several apply, the error is of the first class in this order (the same as the
 * CLI's exit codes 3, 1, 4): AuditDeliveryError, ReaperError (the pass failed), KillsFailedError; its
 * message names every problem.
 */
export function checkReport(report: RunReport): void {
  const where = `reaping pass ${report.runId} on ${report.cluster}`;
  const problems = [
    report.audit.failed > 0 ? `${report.audit.failed} of ${report.audit.events} audit events were not delivered; each is logged in full above` : '',
    report.error ? `the pass failed: ${redactUri(report.error)}` : '',
    report.counts.failed > 0 ? describeKillFailures(report.counts.failed, report.killFailures) : '',
  ];
  if (!problems.some(Boolean)) return;
  const message = `${where}: ${problems.filter(Boolean).join('; ')}`;
  const cause = report[PASS_FAILURE];
  if (problems[0]) throw new AuditDeliveryError(message, cause ? { cause } : undefined);
  if (problems[1]) throw new ReaperError(message, { cause });
  throw new KillsFailedError(message, { runId: report.runId, cluster: report.cluster, failed: report.counts.failed, failures: report.killFailures });
}

/**
 * Runs a planned pass for an automatic trigger (schedule, alarm, Atlas alert). Another pass holding
 * the cluster's lease is not a failure: the pass is skipped, and the next trigger comes.
 */
export async function runPlanned(reaper: Reaper, plan: PassPlan, context: InvocationContext): Promise<HandlerResult> {
  let report: RunReport;
  const runId = startPass(reaper, plan.cluster);
  try {
    report = await runReporting(reaper, {
      runId, cluster: plan.cluster, policySet: plan.policySet, trigger: plan.trigger, ...deadlinesOf(context),
      ...(plan.dryRun !== undefined ? { dryRun: plan.dryRun } : {}),
    });
  } catch (e) {
    if (e instanceof PassInProgressError) {
      logger.warn(e.message, { trigger: plan.trigger });
      return { skipped: e.message, cluster: e.cluster };
    }
    throw e;
  }
  return finishPass(report, plan.policySet);
}

/**
 * reaper.run, for every handler. A pass that throws before it has a report (it could not connect, or take its
 * lease), which finishPass never sees, writes one ERROR line naming the cluster, run id and trigger, with the
 * error (message, stack and causes redacted), and its metrics with PassFailed 1 (publishFailedPassMetrics);
 * then the error is rethrown, redacted: the invocation fails. Another pass holding the lease is rethrown as it
 * is, for the caller to answer (skipped, or the operator's request refused).
 */
export async function runReporting(reaper: Reaper, request: PassRequest & { cluster: string; runId: string }): Promise<RunReport> {
  const startedAt = Date.now();
  try {
    return await reaper.run(request);
  } catch (e) {
    if (e instanceof PassInProgressError) throw e;
    const error = redactError(e instanceof Error ? e : new Error(String(e)));
    logger.error('Reaper pass failed before it finished', { cluster: request.cluster, runId: request.runId, trigger: request.trigger, error });
    publishFailedPassMetrics(request.cluster, Date.now() - startedAt);
    throw e instanceof Error ? error : e;
  }
}

/** A run id for the pass about to start, on every log line of the invocation from now on. */
export function startPass(reaper: Reaper, cluster: string | undefined): string {
  const runId = randomUUID();
  logger.withPass({ cluster: reaper.cluster(cluster, 'the trigger').name, runId });
  return runId;
}

/** Metrics and the completion line of a pass, then its outcome as the invocation's (checkReport). */
export function finishPass(report: RunReport, policySet: string): PassResult {
  const result = summarize(report, policySet);
  publishPassMetrics(report);
  logger.info('Reaper pass completed', result);
  checkReport(report);
  return result;
}

/**
 * A trigger's decision carried out: an ignored trigger is logged (at `ignoredAs`: a warning where the event
 * was probably meant to start a pass) and answered as ignored; a planned pass runs.
 */
export async function runDecision(reaper: Reaper, decision: TriggerDecision, context: InvocationContext, ignoredAs: 'info' | 'warn' = 'info'): Promise<HandlerResult> {
  if ('ignore' in decision) {
    logger[ignoredAs](decision.ignore);
    return { ignored: decision.ignore };
  }
  return runPlanned(reaper, decision.run, context);
}
