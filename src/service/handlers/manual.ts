/**
 * Manual requests: a direct invocation of the reaper function with a JSON payload, e.g.
 *
 *   {"kind": "manual", "action": "kill-sessions", "cluster": "orders",
 *    "sessionIds": ["6f1c2d9e-..."], "reason": "INC-1234", "dryRun": false}
 *   {"kind": "manual", "action": "kill-user-sessions", "users": ["reporting@admin"], "reason": "..."}
 *   {"kind": "manual", "action": "run-policy-set", "policySet": "strict"}
 *
 * Dry run unless the payload says "dryRun": false (and DRY_RUN=true for the deployment wins even
 * then). Kills go through the whole pipeline with a one-off policy set (src/service/manual-request.ts), so the
 * safety gates and the audit are the same as for any pass. A bad payload is refused before anything
 * is read from the cluster; a pass already running for the cluster fails the request (it is not
 * queued: the operator decides whether to try again).
 */
import { ConfigError, InvalidTriggerError } from '../../util/errors.ts';
import { checkReport, deadlinesOf, logger, RESULT_MAX_ROWS, runReporting, startPass, summarize, type InvocationContext, type PassResult } from '../lambda/runtime.ts';
import { publishPassMetrics } from '../lambda/metrics.ts';
import { manualPolicySet, notFound, parseManualRequest } from '../manual-request.ts';
import type { DecisionRow } from '../../pass/pass.ts';
import type { Reaper } from '../app.ts';

export interface ManualResult extends PassResult {
  action: string;
  /** Named sessions or users the pass found nothing of. */
  notFound: string[];
  /** The first RESULT_MAX_ROWS decisions of the request, those that acted first (killed, failed, planned, skipped). */
  decisions: Pick<DecisionRow, 'target' | 'sessionId' | 'uid' | 'opid' | 'user' | 'appName' | 'rule' | 'reason' | 'action' | 'outcome' | 'why' | 'error'>[];
  /** Decisions not listed in `decisions` (every one is in the audit trail and the run's counts). */
  decisionsNotListed: number;
}

/** The order decisions are listed in: what the pass did (or would do) before what it left alone. */
const LISTING_ORDER: Record<DecisionRow['outcome'], number> = { killed: 0, failed: 1, planned: 2, skipped: 3, reported: 4, protected: 5 };

export async function handleManual(reaper: Reaper, payload: unknown, context: InvocationContext): Promise<ManualResult> {
  const request = parseManualRequest(payload);
  const cluster = reaper.cluster(request.cluster, 'the manual request');
  const policySetName = request.policySet ?? cluster.policySet;
  let base;
  try {
    base = reaper.policySet(policySetName);
  } catch (e) {
    if (e instanceof ConfigError) throw new InvalidTriggerError(`invalid manual request: ${e.message}; nothing was killed`, { cause: e });
    throw e;
  }
  const policy = request.action === 'run-policy-set' ? base : manualPolicySet(request, base);
  const runId = startPass(reaper, cluster.name);
  // Another pass holding the lease fails the request as it is (the operator decides whether to try again).
  const report = await runReporting(reaper, {
    runId,
    cluster: cluster.name, policy, dryRun: request.dryRun, ...deadlinesOf(context),
    trigger: { type: 'manual', name: request.requestedBy ?? request.action, id: context.awsRequestId },
  });
  // For a kill request, the decisions about the named sessions or users (killed, or protected by
  // the cluster's policy and audited as skipped); the unrelated protections of the pass are left out.
  const named = new Set([...request.sessionIds, ...request.users]);
  const relevant = request.action === 'run-policy-set' ? report.decisions : report.decisions.filter((d) => named.has(d.sessionId) || named.has(d.user));
  const result: ManualResult = {
    ...summarize(report, request.action === 'run-policy-set' ? policySetName : `manual request (protect rules of "${policySetName}")`),
    action: request.action,
    notFound: notFound(request, report.decisions),
    decisionsNotListed: Math.max(0, relevant.length - RESULT_MAX_ROWS),
    decisions: [...relevant].sort((a, b) => LISTING_ORDER[a.outcome] - LISTING_ORDER[b.outcome]).slice(0, RESULT_MAX_ROWS).map((d) => ({
      target: d.target, sessionId: d.sessionId, uid: d.uid, opid: d.opid, user: d.user, appName: d.appName, rule: d.rule, reason: d.reason, action: d.action, outcome: d.outcome,
      ...(d.why ? { why: d.why } : {}), ...(d.error ? { error: d.error } : {}),
    })),
  };
  publishPassMetrics(report);
  logger.info('Manual request completed', result);
  checkReport(report);
  return result;
}
