/**
 * Scheduled passes: EventBridge Scheduler invoking the reaper with its input, which names the
 * cluster and the policy set ({"kind": "schedule", "cluster": "orders", "policySet": "default"};
 * both optional when the deployment has one cluster), or a classic EventBridge rule's "Scheduled
 * Event" for a one-cluster deployment. Thin: decide from the payload (src/triggers.ts), run one pass,
 * map the report to a small result.
 *
 * Configuration comes from the environment and is validated at module initialisation; the
 * MongoClients are created once per container and reused. The pass stops starting new kills
 * DEADLINE_MARGIN_MS before the invocation's deadline and reports what it did not finish.
 */
import type { ScheduledEvent } from 'aws-lambda';
import { closeSharedReaper, logger, runPlanned, sharedReaper, type HandlerResult, type InvocationContext } from '../src/lambda/runtime.ts';
import { scheduleDecision } from '../src/triggers.ts';

// Module scope: runs once per container, so a bad configuration fails the init, loudly, before any event.
const reaper = await sharedReaper();

export type SchedulerInput = { kind?: 'schedule'; cluster?: string; policySet?: string; dryRun?: boolean; scheduleArn?: string; executionId?: string };

export async function handleScheduled(event: ScheduledEvent | SchedulerInput, context: InvocationContext): Promise<HandlerResult> {
  const decision = scheduleDecision(event, reaper.deployment, reaper.config.source);
  if ('ignore' in decision) {
    logger.warn(decision.ignore);
    return { ignored: decision.ignore };
  }
  return runPlanned(reaper, decision.run, context);
}

export const handler = handleScheduled;

/** Closes the container's MongoClients (tests; Lambda itself just freezes the container). */
export const close = closeSharedReaper;
