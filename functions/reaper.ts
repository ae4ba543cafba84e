/**
 * The reaper function: the one Lambda function that runs passes. EventBridge Scheduler schedules,
 * the CloudWatch alarm rule, operators' manual invocations and the Atlas webhook's hand-offs all
 * invoke it. Passes of different clusters run in parallel; each pass holds its cluster's lease
 * (src/service/lease.ts; in DynamoDB when REAPER_STATE_TABLE is set), so two passes for one cluster
 * never overlap, whatever triggered them.
 *
 * Thin: the Reaper (configuration, policy sets, MongoClients) is created once per container at module
 * scope, so a bad configuration fails the init phase before any event is taken; each event is told
 * apart (src/service/triggers.ts classify) and handed to its handler under src/service/handlers/.
 * EventBridge envelopes are recognised by source and detail-type; direct payloads must carry "kind"
 * ("schedule", "manual", "atlas-alert"). Audit events and archive replays are ignored before that.
 */
import { closeSharedReaper, logger, runDecision, sharedReaper, type HandlerResult, type InvocationContext } from '../src/service/lambda/runtime.ts';
import { classify, handoffDecision } from '../src/service/triggers.ts';
import { handleAlarm } from '../src/service/handlers/alarm.ts';
import { handleManual, type ManualResult } from '../src/service/handlers/manual.ts';
import { handleScheduled } from '../src/service/handlers/schedule.ts';

const reaper = await sharedReaper();

export async function handler(event: unknown, context: InvocationContext): Promise<HandlerResult | ManualResult> {
  logger.withInvocation(context);
  const trigger = classify(event, reaper.config.source);
  switch (trigger.kind) {
    case 'ignore':
      logger.warn(trigger.reason);
      return { ignored: trigger.reason };
    case 'schedule':
      return handleScheduled(reaper, trigger.event, context);
    case 'alarm':
      return handleAlarm(reaper, trigger.event, context);
    case 'manual':
      return handleManual(reaper, trigger.payload, context);
    case 'atlas-alert':
      return runDecision(reaper, handoffDecision(trigger.payload, reaper.deployment), context);
  }
}

/** Closes the container's MongoClients (tests; Lambda itself just freezes the container). */
export const close = closeSharedReaper;
