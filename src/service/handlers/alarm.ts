/**
 * CloudWatch alarms: an EventBridge rule on the default bus matches "CloudWatch Alarm State Change"
 * events for the alarms in REAPER_ALARMS and targets the reaper. State ALARM runs one pass on the
 * alarm's cluster with the policy set mapped to the alarm (usually "strict"); OK and
 * INSUFFICIENT_DATA do nothing. An alarm not in REAPER_ALARMS is refused (the rule is too broad).
 */
import { runDecision, type HandlerResult, type InvocationContext } from '../lambda/runtime.ts';
import type { Reaper } from '../app.ts';
import { alarmDecision } from '../triggers.ts';

export async function handleAlarm(reaper: Reaper, event: unknown, context: InvocationContext): Promise<HandlerResult> {
  return runDecision(reaper, alarmDecision(event, reaper.deployment, reaper.config.source), context, 'info');
}
