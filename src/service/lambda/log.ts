/**
 * The Lambda functions' logger, the one logger of the service: Powertools for AWS Lambda's Logger, one JSON
 * object per line with level, timestamp, service, and (once a handler calls withInvocation) the request id,
 * cold start and function name; a pass adds its cluster and run id (withPass). Every string value, the
 * message included, passes through redactUri, so no connection string's credentials reach the logs, whoever
 * wrote them. Errors are logged with their cause chain (Powertools formats `cause` recursively).
 *
 * A message that already is a JSON object (the audit sinks log undelivered events that way: see
 * src/pass/audit/sink.ts logUndelivered) becomes the log item's fields rather than a quoted string.
 *
 * Its own module, free of the reaper core, so the webhook function's bundle stays small.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import type { Context } from 'aws-lambda';
import { redactUri } from '../../util/redact.ts';

export const SERVICE_NAME = 'mongodb-session-reaper';

const powertools = new Logger({
  serviceName: SERVICE_NAME,
  jsonReplacerFn: (_key, value) => (typeof value === 'string' ? redactUri(value) : value),
});

type Level = 'info' | 'warn' | 'error';

function write(level: Level, message: string, extra: unknown[]): void {
  if (extra.length === 0 && message.startsWith('{')) {
    let fields: unknown;
    try {
      fields = JSON.parse(message);
    } catch {
      fields = null;
    }
    if (fields && typeof fields === 'object' && !Array.isArray(fields)) {
      const { message: inner, ...rest } = fields as Record<string, unknown>;
      powertools[level](typeof inner === 'string' ? inner : '', rest);
      return;
    }
  }
  // Powertools merges a plain object's fields into the item and logs an Error under `error`.
  powertools[level](message, ...(extra as [Record<string, unknown>]));
}

export const logger = {
  info: (message: string, ...extra: unknown[]): void => write('info', message, extra),
  warn: (message: string, ...extra: unknown[]): void => write('warn', message, extra),
  error: (message: string, ...extra: unknown[]): void => write('error', message, extra),
  /** The invocation's fields on every line until the next invocation: request id, cold start, function. */
  withInvocation(context: Partial<Context>): void {
    powertools.resetKeys();
    powertools.addContext(context as Context);
  },
  /** The pass's cluster and run id on every line of this invocation from here on. */
  withPass(fields: { cluster: string; runId: string }): void {
    powertools.appendKeys(fields);
  },
};
