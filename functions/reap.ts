/**
 * Lambda handler for scheduled passes: an EventBridge rule's "Scheduled Event", or EventBridge Scheduler
 * invoking the function with its input ({} or {"dryRun": true}). Thin: validate the trigger, run one pass,
 * map the report to a small result.
 *
 * Configuration comes from the environment (MONGODB_URI, AUDIT_EVENT_BUS_NAME, DRY_RUN, REAPER_* thresholds)
 * and is validated at module initialisation; the MongoClient is created once per container and reused.
 * The pass stops starting new kills DEADLINE_MARGIN_MS before the invocation's deadline and reports
 * what it did not finish.
 */
import type { Context, ScheduledEvent } from 'aws-lambda';
import { createReaper, DEADLINE_MARGIN_MS } from '../src/app.ts';
import { ReaperError } from '../src/errors.ts';
import { redactUri } from '../src/redact.ts';

const logger = {
  error: (m: string) => console.error(redactUri(m)),
  warn: (m: string) => console.warn(redactUri(m)),
};

// Module scope: runs once per container, so a bad configuration fails the init, loudly, before any event.
const reaper = await createReaper(process.env, logger);

export class InvalidTriggerError extends ReaperError {}

type SchedulerInput = { dryRun?: boolean };

function triggerOf(event: unknown): { name?: string; id?: string; dryRun?: boolean } {
  if (event && typeof event === 'object' && (event as ScheduledEvent)['detail-type'] === 'Scheduled Event') {
    const e = event as ScheduledEvent;
    if (e.source !== 'aws.events' && e.source !== 'aws.scheduler') {
      throw new InvalidTriggerError(`a "Scheduled Event" must come from aws.events or aws.scheduler, got source "${e.source}"`);
    }
    return { name: e.resources?.[0], id: e.id };
  }
  if (event && typeof event === 'object' && !Array.isArray(event)) {
    const input = event as SchedulerInput;
    const keys = Object.keys(input).filter((k) => k !== 'dryRun');
    if (input.dryRun !== undefined && typeof input.dryRun !== 'boolean') {
      throw new InvalidTriggerError(`"dryRun" in the scheduler input must be true or false, got ${JSON.stringify(input.dryRun)}`);
    }
    if (keys.length === 0) return input.dryRun === undefined ? {} : { dryRun: input.dryRun };
    throw new InvalidTriggerError(`unexpected fields in the scheduler input: ${keys.join(', ')}; send {} or an EventBridge "Scheduled Event"`);
  }
  throw new InvalidTriggerError('the event is not a scheduled event: send an EventBridge "Scheduled Event" or a JSON object from EventBridge Scheduler');
}

export const handler = async (event: ScheduledEvent | SchedulerInput, context: Pick<Context, 'getRemainingTimeInMillis' | 'awsRequestId'>) => {
  const { dryRun, ...trigger } = triggerOf(event);
  const deadlineMs = Date.now() + context.getRemainingTimeInMillis() - DEADLINE_MARGIN_MS;
  const report = await reaper.runOnce({ type: 'schedule', ...trigger }, { deadlineMs, ...(dryRun !== undefined ? { dryRun } : {}) });
  const result = {
    runId: report.runId, cluster: report.cluster, dryRun: report.dryRun, reportOnly: report.reportOnly,
    counts: report.counts, unfinished: report.unfinished, auditFailed: report.audit.failed, error: report.error,
  };
  console.log(JSON.stringify({ message: 'Reaper pass completed', ...result }));
  // A failed pass fails the invocation, so the on-failure destination and the alarms see it.
  if (report.error) throw new ReaperError(`reaping pass ${report.runId} failed: ${redactUri(report.error)}`);
  return result;
};

/** Closes the container's MongoClient (tests; Lambda itself just freezes the container). */
export const close = (): Promise<void> => reaper.close();
