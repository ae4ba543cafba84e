/**
 * Turns one text (a JSON line, a log event message) into an AuditRecord or a ReadProblem. Every
 * detail is validated against the published schema: the review tools show what the contract says an
 * event is, and anything else is reported, not guessed at.
 */
import { detailTypeFor, type AuditDetail, type EventEnvelope } from '../pass/audit/events.ts';
import { validateAuditDetail } from '../pass/audit/schema.ts';
import { isObject } from '../util/validate.ts';
import type { SourceItem } from './record.ts';

/** How much of an offending text a message quotes: enough to recognise it, not a whole line of junk. */
const QUOTE_CHARS = 60;

function quote(text: string): string {
  const flat = JSON.stringify(text.length > QUOTE_CHARS ? `${text.slice(0, QUOTE_CHARS)}…` : text);
  return flat;
}

/** The detail's own time: what --since/--until and the report's time axis use. */
export function detailTimeMs(detail: AuditDetail): number {
  return Date.parse(detail.kind === 'run' ? detail.finishedAt : detail.time);
}

export function parseAuditText(text: string, where: string): SourceItem {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { problem: { where, kind: 'malformed', message: `not JSON (${(error as Error).message}): ${quote(text)}` } };
  }
  if (!isObject(value)) {
    return { problem: { where, kind: 'malformed', message: `not a JSON object: ${quote(text)}` } };
  }
  const detailType = value['detail-type'];
  if (typeof detailType !== 'string' || !isObject(value.detail)) {
    return {
      problem: {
        where,
        kind: 'malformed',
        message: `not an EventBridge event envelope (needs "detail-type" and an object "detail"): ${quote(text)}`,
      },
    };
  }
  const errors = validateAuditDetail(value.detail);
  if (errors.length > 0) {
    return { problem: { where, kind: 'invalid', message: `detail does not match the audit event schema: ${errors.join('; ')}` } };
  }
  const detail = value.detail as unknown as AuditDetail;
  const expected = detailTypeFor(detail);
  if (detailType !== expected) {
    return { problem: { where, kind: 'invalid', message: `detail-type "${detailType}" contradicts the detail, which is a "${expected}"` } };
  }
  const envelope = value as unknown as EventEnvelope;
  return {
    record: {
      where,
      eventId: typeof value.id === 'string' ? value.id : '',
      envelope,
      detail,
      timeMs: detailTimeMs(detail),
    },
  };
}
