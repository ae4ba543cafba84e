/**
 * The audit events a sink logged because it could not deliver them (logUndelivered in
 * src/pass/audit/sink.ts: one JSON line each), parsed back from captured log text or lines.
 */
export interface LoggedEvent {
  detailType: string;
  detail: Record<string, unknown>;
}

/** From log text (a CLI's stderr), or from JSON lines already parsed (test/support/json-lines.ts, captured). */
export function undeliveredEvents(log: string | readonly Record<string, any>[]): LoggedEvent[] {
  const lines = typeof log === 'string'
    ? log.split('\n').filter((l) => l.startsWith('{') && l.includes('"Audit event not delivered"')).map((l) => JSON.parse(l) as Record<string, any>)
    : log.filter((l) => l.message === 'Audit event not delivered');
  return lines.map((l) => l.event as LoggedEvent);
}
