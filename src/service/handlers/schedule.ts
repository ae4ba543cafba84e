/**
 * Scheduled passes: EventBridge Scheduler invoking the reaper with its input, which names the
 * cluster and the policy set ({"kind": "schedule", "cluster": "orders", "policySet": "default"};
 * both optional when the deployment has one cluster), or a classic EventBridge rule's "Scheduled
 * Event" for a one-cluster deployment. Thin: decide from the payload (src/service/triggers.ts), run one pass,
 * map the report to a small result.
 *
 * Accepts either shape (SchedulerInput below, or a ScheduledEvent envelope) as `unknown`: scheduleDecision
 * validates it. The pass stops starting new kills
 * DEADLINE_MARGIN_MS before the invocation's deadline and reports what it did not finish.
 */
import { runDecision, type HandlerResult, type InvocationContext } from '../lambda/runtime.ts';
import type { Reaper } from '../app.ts';
import { scheduleDecision } from '../triggers.ts';

export type SchedulerInput = { kind?: 'schedule'; cluster?: string; policySet?: string; dryRun?: boolean; scheduleArn?: string; executionId?: string };

export async function handleScheduled(reaper: Reaper, event: unknown, context: InvocationContext): Promise<HandlerResult> {
  return runDecision(reaper, scheduleDecision(event, reaper.deployment, reaper.config.source), context, 'warn');
}
