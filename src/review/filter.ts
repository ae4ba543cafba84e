/**
 * The filters of `session-reaper audit`. Each flag may be repeated: values of one flag are
 * alternatives (OR), different flags must all hold (AND). Only --outcome also takes a comma-separated
 * list: names and application names are chosen by people and clients and may contain commas.
 *
 * Run summaries carry no user, application, rule, session, outcome or member, so any of those filters
 * leaves them out; --since/--until, --cluster, --trigger and --run apply to both kinds.
 */
import { identityMatches } from '../util/identity-label.ts';
import { ConfigError } from '../util/errors.ts';
import type { AuditRecord } from './record.ts';

export const OUTCOMES = ['planned', 'killed', 'skipped', 'failed'] as const;

export interface ReviewFilter {
  /** Inclusive lower bound of the event time, epoch ms. */
  sinceMs?: number;
  /** Exclusive upper bound of the event time, epoch ms. */
  untilMs?: number;
  clusters?: string[];
  users?: string[];
  apps?: string[];
  rules?: string[];
  /** Session ids, or their leading characters (the tables show the first 8). */
  sessions?: string[];
  outcomes?: string[];
  /** Trigger type ("schedule"), name ("every-5-minutes") or both as "type:name". */
  triggers?: string[];
  /** Run ids, or their leading characters. */
  runs?: string[];
  /** Replica-set members (host:port) a decision names: where the session held something, or where it was killed. */
  hosts?: string[];
}

function some(values: string[] | undefined): values is string[] {
  return values !== undefined && values.length > 0;
}

/** The values of a repeated flag; undefined when the flag was absent. `split` also splits at commas. */
export function flagValues(raw: string[] | undefined, split = false): string[] | undefined {
  if (!raw) return undefined;
  const values = (split ? raw.flatMap((v) => v.split(',')).map((v) => v.trim()) : raw).filter((v) => v !== '');
  return values.length ? values : undefined;
}

export function validateOutcomes(outcomes: string[] | undefined): void {
  for (const o of outcomes ?? []) {
    if (!(OUTCOMES as readonly string[]).includes(o)) {
      throw new ConfigError(`--outcome "${o}" is not an outcome; outcomes: ${OUTCOMES.join(', ')}`);
    }
  }
}

function prefixOf(values: string[], id: string): boolean {
  const lower = id.toLowerCase();
  return values.some((v) => lower.startsWith(v.toLowerCase()));
}

/** True when the filter names something only a decision has. */
export function decisionOnly(filter: ReviewFilter): boolean {
  return some(filter.users) || some(filter.apps) || some(filter.rules) || some(filter.sessions) || some(filter.outcomes) || some(filter.hosts);
}

export function matchesFilter(record: AuditRecord, filter: ReviewFilter): boolean {
  const d = record.detail;
  if (filter.sinceMs !== undefined && record.timeMs < filter.sinceMs) return false;
  if (filter.untilMs !== undefined && record.timeMs >= filter.untilMs) return false;
  if (some(filter.clusters) && !filter.clusters.includes(d.cluster)) return false;
  if (some(filter.runs) && !prefixOf(filter.runs, d.runId)) return false;
  if (some(filter.triggers)) {
    const { type, name } = d.trigger;
    const names = [type, ...(name !== undefined ? [name, `${type}:${name}`] : [])];
    if (!filter.triggers.some((t) => names.includes(t))) return false;
  }
  if (d.kind === 'run') return !decisionOnly(filter);
  if (some(filter.outcomes) && !filter.outcomes.includes(d.outcome)) return false;
  if (some(filter.rules) && !filter.rules.includes(d.rule)) return false;
  // Sessionless operations have no user, application or session: such filters leave them out.
  if (some(filter.users) && !(d.session && filter.users.includes(d.session.user))) return false;
  if (some(filter.apps) && !(d.session && identityMatches(filter.apps, d.session.appName))) return false;
  if (some(filter.sessions) && !(d.session && prefixOf(filter.sessions, d.session.id))) return false;
  // Members are named case-insensitively (host names are); decisions without members (a standalone) never match.
  if (some(filter.hosts) && !(d.members ?? []).some((m) => filter.hosts!.some((h) => h.toLowerCase() === m.host.toLowerCase()))) return false;
  return true;
}

/** The filter in words, for report titles and summaries: "cluster prod, since 2024-05-01T00:00:00.000Z". */
export function describeFilter(filter: ReviewFilter): string {
  const parts: string[] = [];
  if (filter.sinceMs !== undefined) parts.push(`since ${new Date(filter.sinceMs).toISOString()}`);
  if (filter.untilMs !== undefined) parts.push(`until ${new Date(filter.untilMs).toISOString()}`);
  const lists: [string, string[] | undefined][] = [
    ['cluster', filter.clusters], ['user', filter.users], ['app', filter.apps], ['rule', filter.rules],
    ['session', filter.sessions], ['outcome', filter.outcomes], ['trigger', filter.triggers], ['run', filter.runs], ['host', filter.hosts],
  ];
  for (const [name, values] of lists) if (some(values)) parts.push(`${name} ${values.join(' or ')}`);
  return parts.length ? parts.join(', ') : 'all events';
}
