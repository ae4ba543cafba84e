/**
 * The reaper function: the one Lambda function that runs passes. EventBridge Scheduler schedules,
 * the CloudWatch alarm rule, operators' manual invocations and the Atlas webhook's hand-offs all
 * invoke it, and its reserved concurrency of 1 (serverless.yml) means Lambda never runs two of its
 * invocations at once: two passes for one cluster never overlap, whatever triggered them. Within
 * the process, each pass also holds its cluster's lease (src/lease.ts).
 *
 * Thin: tell the trigger apart (src/triggers.ts classify) and hand the event to its handler.
 * EventBridge envelopes are recognised by source and detail-type; direct payloads must carry "kind"
 * ("schedule", "manual", "atlas-alert"). Audit events and archive replays are ignored before that.
 */
import { closeSharedReaper, logger, runPlanned, sharedReaper, type HandlerResult, type InvocationContext } from '../src/lambda/runtime.ts';
import { classify, handoffDecision } from '../src/triggers.ts';
import { handleAlarm } from './alarm.ts';
import { handleManual, type ManualResult } from './manual.ts';
import { handleScheduled } from './reap.ts';

const reaper = await sharedReaper();

export async function handler(event: unknown, context: InvocationContext): Promise<HandlerResult | ManualResult> {
  const trigger = classify(event, reaper.config.source);
  switch (trigger.kind) {
    case 'ignore':
      logger.warn(trigger.reason);
      return { ignored: trigger.reason };
    case 'schedule':
      return handleScheduled(trigger.event as never, context);
    case 'alarm':
      return handleAlarm(trigger.event, context);
    case 'manual':
      return handleManual(trigger.payload, context);
    case 'atlas-alert': {
      const decision = handoffDecision(trigger.payload, reaper.deployment);
      if ('ignore' in decision) return { ignored: decision.ignore };
      return runPlanned(reaper, decision.run, context);
    }
  }
}

export const close = closeSharedReaper;
