/**
 * --since / --until values: a duration back from now ("30m", "24h", "7d") or an ISO 8601 instant
 * ("2024-05-01", "2024-05-01T12:00:00Z", "2024-05-01T14:00:00+02:00").
 */
import { ConfigError } from '../util/errors.ts';

const UNIT_MS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

const DURATION = /^(\d+)(s|m|h|d|w)$/;
const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;
// A time of day needs its offset: "12:00" alone would mean the reader's local time, which differs
// between the laptop and the Lambda that wrote the events.
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;

/** Epoch ms of a --since/--until value; `flag` names it in the error. */
export function parseTimeBound(text: string, now: number, flag: string): number {
  const value = text.trim();
  const duration = DURATION.exec(value);
  if (duration) return now - Number(duration[1]) * UNIT_MS[duration[2]!]!;
  if (DATE_ONLY.test(value) || DATE_TIME.test(value)) {
    // A date alone is midnight UTC (that is how Date.parse reads the date-only form).
    const ms = Date.parse(value);
    if (!Number.isNaN(ms)) return ms;
  }
  throw new ConfigError(
    `${flag} "${text}" is neither a duration back from now (e.g. 30m, 24h, 7d; units s m h d w) ` +
      'nor an ISO 8601 date or time with its offset (e.g. 2024-05-01, 2024-05-01T12:00:00Z)',
  );
}
