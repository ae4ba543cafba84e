/**
 * Audit events from the CloudWatch Logs log group the infra's EventBridge rule writes them to: each
 * log event's message is the event envelope JSON. Read with FilterLogEvents page by page (nextToken),
 * each page handed on before the next is requested, so memory is bounded by one page.
 */
import { CloudWatchLogsClient, FilterLogEventsCommand, type FilterLogEventsCommandInput } from '@aws-sdk/client-cloudwatch-logs';
import { parseAuditText } from '../review/parse.ts';
import type { SourceItem } from '../review/record.ts';

/**
 * How far the pushed-down time window is widened on each side. A log event's timestamp is when the
 * EventBridge target wrote it, not the decision's time: seconds apart normally, later when delivery
 * was retried. The exact --since/--until filter runs on the detail's own time afterwards, so the
 * slack only costs reading a little more; an event delivered later than this after it happened is
 * outside a --until window read from CloudWatch (read without --until, it is found).
 */
export const PUSHDOWN_SLACK_MS = 15 * 60_000;

export interface LogGroupSourceOptions {
  client: CloudWatchLogsClient;
  logGroupName: string;
  /** Epoch ms bounds of the detail time, as given by --since/--until; widened here by the slack. */
  sinceMs?: number;
  untilMs?: number;
  /** FilterLogEvents `limit` (events per page); the service default (10,000) when absent. */
  pageSize?: number;
  /** Called after each page, with the number of the page. */
  onPage?: (page: number) => void;
}

export function createLogsClient(): CloudWatchLogsClient {
  // Region, credentials and endpoint (AWS_ENDPOINT_URL) come from the standard AWS configuration.
  return new CloudWatchLogsClient({});
}

export function pushdownRequest(options: LogGroupSourceOptions): FilterLogEventsCommandInput {
  return {
    logGroupName: options.logGroupName,
    ...(options.sinceMs !== undefined ? { startTime: Math.max(0, options.sinceMs - PUSHDOWN_SLACK_MS) } : {}),
    ...(options.untilMs !== undefined ? { endTime: options.untilMs + PUSHDOWN_SLACK_MS } : {}),
    ...(options.pageSize !== undefined ? { limit: options.pageSize } : {}),
    // Ignored by the service since 2019 (results always interleave streams, in time order); moto
    // still reads it, and EventBridge writes each event to a stream of its own there.
    interleaved: true,
  };
}

export async function* readLogGroup(options: LogGroupSourceOptions): AsyncGenerator<SourceItem> {
  const request = pushdownRequest(options);
  let nextToken: string | undefined;
  let page = 0;
  do {
    const response = await options.client.send(new FilterLogEventsCommand({ ...request, ...(nextToken ? { nextToken } : {}) }));
    page++;
    for (const event of response.events ?? []) {
      const where = `log event ${event.eventId ?? '(no id)'} in stream ${event.logStreamName ?? '(unknown)'}`;
      yield parseAuditText(event.message ?? '', where);
    }
    options.onPage?.(page);
    // A page can be empty while more remain (the service stops at a time budget): follow the token
    // until it is absent, not until a page comes back empty.
    nextToken = response.nextToken;
  } while (nextToken);
}
