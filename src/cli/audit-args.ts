/**
 * The arguments of `session-reaper audit`: which command, which source, which filter. Everything that
 * can be wrong with them is found here, before anything is read (ConfigError: exit 2).
 */
import { parseArgs } from 'node:util';
import { ConfigError } from '../util/errors.ts';
import { flagValues, validateOutcomes, type ReviewFilter } from '../review/filter.ts';
import { sourceSpec, type SourceSpec } from './audit-source.ts';
import { parseTimeBound } from '../review/time.ts';

export const AUDIT_USAGE = `usage: session-reaper audit (--file PATH | --log-group NAME) [filters] [--json | --csv]
       session-reaper audit explain SESSION_ID (--file PATH | --log-group NAME) [--since T] [--until T] [--cluster C] [--run R] [--trigger T] [--json]
       session-reaper audit report --html FILE (--file PATH | --log-group NAME) [filters] [--rows N]

sources:  --file PATH        JSON lines of EventBridge envelopes (the file sink's output, or audit --json); "-" reads stdin
          --log-group NAME   the CloudWatch Logs log group the EventBridge rule writes audit events to
          --page-size N      log events per FilterLogEvents request (default: the service's 10,000)
filters:  --since T / --until T   a duration back from now (30m, 24h, 7d) or an ISO time (2024-05-01T12:00:00Z)
          --cluster, --user, --app, --rule, --session, --outcome, --trigger, --run, --host
          repeat a filter for alternatives (--user a --user b); different filters must all match;
          --session and --run also match the leading characters of an id; --trigger matches the type, the name or
          TYPE:NAME; --outcome: planned, killed, skipped, failed (also comma-separated); --host HOST:PORT: decisions
          naming that replica-set member (where the session held something or was killed)
output:   an aligned table (default); --json: one event envelope per line, as read; --csv: RFC 4180 with a header`;

const FILTER_FLAGS = ['cluster', 'user', 'app', 'rule', 'session', 'outcome', 'trigger', 'run', 'host'] as const;
/** Filters that apply to run summaries too: the only ones explain takes besides the time window. */
const PASS_FLAGS = new Set(['cluster', 'trigger', 'run']);

const OPTIONS = {
  file: { type: 'string' },
  'log-group': { type: 'string' },
  'page-size': { type: 'string' },
  since: { type: 'string' },
  until: { type: 'string' },
  cluster: { type: 'string', multiple: true },
  user: { type: 'string', multiple: true },
  app: { type: 'string', multiple: true },
  rule: { type: 'string', multiple: true },
  session: { type: 'string', multiple: true },
  outcome: { type: 'string', multiple: true },
  trigger: { type: 'string', multiple: true },
  run: { type: 'string', multiple: true },
  host: { type: 'string', multiple: true },
  json: { type: 'boolean' },
  csv: { type: 'boolean' },
  html: { type: 'string' },
  rows: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export type Values = { [K in keyof typeof OPTIONS]?: (typeof OPTIONS)[K] extends { multiple: true } ? string[] : (typeof OPTIONS)[K] extends { type: 'boolean' } ? boolean : string };

export function positiveInteger(raw: string | undefined, flag: string): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new ConfigError(`--${flag} must be a whole number of at least 1, got "${raw}"`);
  return n;
}

export function buildFilter(values: Values, now: number): ReviewFilter {
  const filter: ReviewFilter = {};
  if (values.since !== undefined) filter.sinceMs = parseTimeBound(values.since, now, '--since');
  if (values.until !== undefined) filter.untilMs = parseTimeBound(values.until, now, '--until');
  if (filter.sinceMs !== undefined && filter.untilMs !== undefined && filter.sinceMs >= filter.untilMs) {
    throw new ConfigError('--since must be before --until');
  }
  const lists = {
    clusters: flagValues(values.cluster), users: flagValues(values.user), apps: flagValues(values.app), rules: flagValues(values.rule),
    sessions: flagValues(values.session), outcomes: flagValues(values.outcome, true), triggers: flagValues(values.trigger), runs: flagValues(values.run),
    hosts: flagValues(values.host),
  };
  validateOutcomes(lists.outcomes);
  for (const [key, list] of Object.entries(lists)) if (list) (filter as Record<string, unknown>)[key] = list;
  return filter;
}

export interface ParsedAudit {
  sub: 'list' | 'explain' | 'report';
  sessionId?: string;
  values: Values;
  spec: SourceSpec;
  filter: ReviewFilter;
}

export function parseAuditArgs(argv: string[], now: number): ParsedAudit {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (e) {
    throw new ConfigError((e as Error).message);
  }
  const values = parsed.values as Values;
  const [first, ...rest] = parsed.positionals;
  const sub = first === 'explain' ? 'explain' : first === 'report' ? 'report' : first === undefined ? 'list' : null;
  if (sub === null) throw new ConfigError(`unknown audit command "${first}"; commands: explain, report (or none, to list events)`);
  const expected = sub === 'explain' ? 1 : 0;
  if (rest.length !== expected) {
    throw new ConfigError(sub === 'explain' ? 'audit explain takes one SESSION_ID' : `unexpected argument "${rest[0]}"`);
  }
  if (values.json && values.csv) throw new ConfigError('choose --json or --csv, not both');
  if (sub === 'report') {
    if (!values.html) throw new ConfigError('audit report needs --html FILE: the page to write');
    if (values.json || values.csv) throw new ConfigError('audit report writes HTML only: drop --json/--csv');
  } else {
    if (values.html !== undefined) throw new ConfigError('--html belongs to "audit report"');
    if (values.rows !== undefined) throw new ConfigError('--rows belongs to "audit report"');
  }
  if (sub === 'explain') {
    if (values.csv) throw new ConfigError('audit explain prints text or --json');
    const other = FILTER_FLAGS.filter((f) => values[f] !== undefined && !PASS_FLAGS.has(f));
    if (other.length) throw new ConfigError(`audit explain does not take --${other.join(', --')}: it shows every decision about the session`);
  }
  const spec = sourceSpec(values.file, values['log-group'], positiveInteger(values['page-size'], 'page-size'));
  const filter = buildFilter(values, now);
  const sessionId = rest[0];
  if (sessionId !== undefined && !/^[0-9a-fA-F-]{4,36}$/.test(sessionId)) {
    throw new ConfigError(`"${sessionId}" is not a session id: give the UUID, or at least its first 4 hex digits`);
  }
  return { sub, values, spec, filter, ...(sessionId !== undefined ? { sessionId } : {}) };
}

