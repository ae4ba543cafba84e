/**
 * The audit events a sink logged because it could not deliver them (logUndelivered in
 * src/pass/audit/sink.ts: one JSON line each), parsed back from captured log text or lines.
 */
export interface LoggedEvent {
  detailType: string;
  detail: Record<string, unknown>;
}

export function undeliveredEvents(log: string | readonly string[]): LoggedEvent[] {
  const lines = typeof log === 'string' ? log.split('\n') : log;
  return lines.filter((l) => l.startsWith('{') && l.includes('"Audit event not delivered"')).map((l) => JSON.parse(l).event as LoggedEvent);
}
