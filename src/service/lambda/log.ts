/**
 * The Lambda functions' logger: one JSON object per line (CloudWatch Logs Insights reads the
 * fields), every line passed through redactUri so that no connection string's credentials reach the
 * logs, whoever wrote the message. A message that already is a JSON object (the audit sinks log
 * undelivered events that way) is printed as it is rather than quoted into another one.
 *
 * Its own module, free of the reaper core, so the webhook function's bundle stays small.
 */
import { redactUri } from '../../util/redact.ts';

function line(level: string, message: string, extra: unknown[]): string {
  if (message.startsWith('{') && extra.length === 0) return redactUri(message);
  const fields = extra.length === 1 && extra[0] && typeof extra[0] === 'object' ? extra[0] : extra.length ? { extra } : {};
  // The message is redacted before JSON escaping changes it (a backslash in a password doubles), then the whole line for the fields.
  return redactUri(JSON.stringify({ level, message: redactUri(message), ...fields }));
}

export const logger = {
  info: (message: string, ...extra: unknown[]) => console.log(line('info', message, extra)),
  warn: (message: string, ...extra: unknown[]) => console.warn(line('warn', message, extra)),
  error: (message: string, ...extra: unknown[]) => console.error(line('error', message, extra)),
};
