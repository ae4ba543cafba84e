/**
 * Run configuration: one table of settings drives the environment variables, the CLI flags, the
 * validation and the README's configuration reference. Invalid values fail at start-up with a message
 * naming the setting and what it accepts; nothing falls back silently.
 */
import { ConfigError } from '../util/errors.ts';
import { DEFAULT_KILL_BATCH_SIZE, DEFAULT_KILL_CONCURRENCY, MAX_KILL_BATCH_SIZE } from '../pass/kill.ts';
import { DEFAULT_AUDIT_SOURCE } from '../pass/audit/events.ts';
import { DEFAULT_AUDIT_REQUEST_TIMEOUT_SECONDS } from '../pass/audit/budget.ts';
import { EVALUATORS, type EvaluatorKind } from '../pass/policy/evaluators.ts';
import { shippedPath } from '../util/shipped-path.ts';
import { MEMBERS_MODES, type MembersMode } from '../pass/ports.ts';
import {
  checkConnectionString, checkSecretArn, parseAlarms, parseAtlasAlerts, parseClusters, parsePolicySets,
  type AlarmRoute, type AtlasAlertRoutes, type ClusterSpec, type PolicySetSpec,
} from './deployment.ts';

export const DEFAULT_POLICIES_DIR = shippedPath('policies');

/**
 * Default audit timeout (our choice): a healthy audit of the default 1,000-kill cap took ~250 ms (106
 * PutEvents calls), of 100,000 kills ~9 s (bench/results.json, `npm run bench`), and the retries of a
 * throttled burst take seconds; 30 s is ample for those and still ends a pass whose audit destination
 * has stalled. The maximum, 15 minutes,
 * is Lambda's own maximum timeout ("Lambda quotas", AWS Lambda Developer Guide): no pass runs longer.
 */
export const DEFAULT_AUDIT_TIMEOUT_SECONDS = 30;
export const MAX_AUDIT_TIMEOUT_SECONDS = 900;

export interface RunConfig {
  uri: string;
  policiesDir: string;
  dryRun: boolean;
  maxKills: number;
  maxKillShare: number;
  batchSize: number;
  concurrency: number;
  audit: string;
  auditTimeoutSeconds: number;
  auditRequestTimeoutSeconds: number;
  cluster: string;
  source: string;
  eventBusName: string;
  evaluator: EvaluatorKind;
  /** Replica-set members read and killed on: "all" data-bearing members, or "primary" only (the behaviour before topology discovery). */
  members: MembersMode;
  /** The CLI's sightings file; '' for the default path (src/adapters/sightings-file.ts defaultStatePath). */
  stateFile: string;
  // Lambda deployment settings (scope "lambda": no CLI flag, read only by the Lambda functions).
  /** Secrets Manager ARN of the single cluster's connection string; '' when absent. */
  secretArn: string;
  clusters: ClusterSpec[] | null;
  policySets: PolicySetSpec[] | null;
  alarms: AlarmRoute[] | null;
  atlasAlerts: AtlasAlertRoutes | null;
  /** Secrets Manager ARN of the Atlas webhook secret; '' when absent. */
  webhookSecretArn: string;
  /** The Atlas webhook secret itself (local runs and tests); '' when absent. Never logged. */
  webhookSecret: string;
  /** Name or ARN of the function the Atlas webhook hands its passes to. */
  reaperFunction: string;
  /** DynamoDB state table (cluster leases, Atlas alert replay records); '' keeps leases in the process and leaves replays undetected. */
  stateTable: string;
  /** Seconds within which a copy of an Atlas alert already handed off starts no pass. */
  atlasReplayWindowSeconds: number;
  /** S3 bucket the reaper function records each pass's snapshot into; '' (the default): no recording. */
  snapshotBucket: string;
  /** Key prefix of the recorded snapshots. */
  snapshotPrefix: string;
}

/** "cli": the settings of `session-reaper run`; "lambda": also the deployment settings of the functions. */
export type SettingsScope = 'cli' | 'lambda';

type Parser<T> = (raw: string, where: string) => T;

interface Setting<K extends keyof RunConfig> {
  key: K;
  env: string;
  /** CLI flag without "--"; null for settings only the Lambda functions read. */
  flag: string | null;
  description: string;
  default: RunConfig[K] | ((c: Partial<RunConfig>) => RunConfig[K]) | undefined;
  parse: Parser<RunConfig[K]>;
  /** Lambda-only settings are resolved only with scope "lambda" (the CLI keeps their defaults). */
  scope?: 'lambda';
  /** A required setting (default undefined) may be absent when one of these is given (scope "lambda" only). */
  alternatives?: readonly (keyof RunConfig)[];
}

const text: Parser<string> = (raw, where) => {
  if (raw.trim() === '') throw new ConfigError(`${where} is empty; give a value or unset it`);
  return raw.trim();
};

const bool: Parser<boolean> = (raw, where) => {
  const v = raw.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(v)) return true;
  if (['0', 'false', 'no', 'off', ''].includes(v)) return false;
  throw new ConfigError(`${where} must be true or false (or 1/0), got "${raw}"`);
};

function integer(min: number, max: number): Parser<number> {
  return (raw, where) => {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) throw new ConfigError(`${where} must be a whole number from ${min} to ${max}, got "${raw}"`);
    return n;
  };
}

const fraction: Parser<number> = (raw, where) => {
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0 || n > 1) throw new ConfigError(`${where} must be a fraction from 0 to 1 (0.25 = a quarter of all sessions), got "${raw}"`);
  return n;
};

function oneOf<T extends string>(values: readonly T[]): Parser<T> {
  return (raw, where) => {
    const v = raw.trim();
    if (!(values as readonly string[]).includes(v)) throw new ConfigError(`${where} must be one of ${values.join(', ')}, got "${v}"`);
    return v as T;
  };
}

/**
 * The cluster name defaults to the connection string's host list, credentials removed; with the
 * connection string in Secrets Manager, to the secret's name (without the 6-character suffix AWS adds).
 */
function clusterFromUri(c: Partial<RunConfig>): string {
  const m = /^mongodb(?:\+srv)?:\/\/(?:[^@/]*@)?([^/?]+)/.exec(c.uri ?? '');
  if (m) return m[1]!;
  const secret = /:secret:(.+?)(-[A-Za-z0-9]{6})?$/.exec(c.secretArn ?? '');
  return secret ? secret[1]! : 'unknown';
}

export const SETTINGS: readonly Setting<keyof RunConfig>[] = [
  { key: 'uri', env: 'MONGODB_URI', flag: 'uri', description: 'Connection string of the deployment (mongod, replica set or mongos)', default: undefined, parse: checkConnectionString, alternatives: ['secretArn', 'clusters'] },
  { key: 'policiesDir', env: 'REAPER_POLICIES_DIR', flag: 'policies', description: 'Directory of policy files (*.json)', default: DEFAULT_POLICIES_DIR, parse: text },
  { key: 'dryRun', env: 'DRY_RUN', flag: 'dry-run', description: 'Decide, plan and audit, but kill nothing', default: false, parse: bool },
  { key: 'maxKills', env: 'REAPER_MAX_KILLS', flag: 'max-kills', description: 'More planned kills than this turn the pass report-only', default: 1000, parse: integer(0, 10_000_000) },
  { key: 'maxKillShare', env: 'REAPER_MAX_KILL_SHARE', flag: 'max-kill-share', description: 'A larger share of all sessions planned for killing turns the pass report-only', default: 0.25, parse: fraction },
  { key: 'batchSize', env: 'REAPER_BATCH_SIZE', flag: 'batch-size', description: `Sessions per killSessions command (1-${MAX_KILL_BATCH_SIZE})`, default: DEFAULT_KILL_BATCH_SIZE, parse: integer(1, MAX_KILL_BATCH_SIZE) },
  { key: 'concurrency', env: 'REAPER_KILL_CONCURRENCY', flag: 'concurrency', description: 'Kill commands in flight at once', default: DEFAULT_KILL_CONCURRENCY, parse: integer(1, 64) },
  { key: 'audit', env: 'REAPER_AUDIT', flag: 'audit', description: 'Audit sink: eventbridge, eventbridge:BUS, stdout or file:PATH', default: 'stdout', parse: text },
  { key: 'auditTimeoutSeconds', env: 'REAPER_AUDIT_TIMEOUT_SECONDS', flag: 'audit-timeout', description: `Seconds the audit of one pass may take in all (1-${MAX_AUDIT_TIMEOUT_SECONDS}); events not delivered by then are logged in full and the run ends with exit code 3 (in Lambda the invocation's remaining time, less a margin for that logging, bounds it too)`, default: DEFAULT_AUDIT_TIMEOUT_SECONDS, parse: integer(1, MAX_AUDIT_TIMEOUT_SECONDS) },
  { key: 'auditRequestTimeoutSeconds', env: 'REAPER_AUDIT_REQUEST_TIMEOUT_SECONDS', flag: 'audit-request-timeout', description: `Seconds one PutEvents request may go unanswered before it is abandoned and retried on a new connection (1-${MAX_AUDIT_TIMEOUT_SECONDS}), within the audit timeout`, default: DEFAULT_AUDIT_REQUEST_TIMEOUT_SECONDS, parse: integer(1, MAX_AUDIT_TIMEOUT_SECONDS) },
  { key: 'cluster', env: 'REAPER_CLUSTER', flag: 'cluster', description: 'Cluster name in audit events (default: the hosts of the connection string, or the name of MONGODB_SECRET_ARN)', default: clusterFromUri, parse: text },
  { key: 'source', env: 'REAPER_AUDIT_SOURCE', flag: 'source', description: 'EventBridge Source of audit events', default: DEFAULT_AUDIT_SOURCE, parse: text },
  { key: 'eventBusName', env: 'AUDIT_EVENT_BUS_NAME', flag: 'event-bus', description: 'EventBridge bus for --audit eventbridge', default: '', parse: (r) => r.trim() },
  { key: 'evaluator', env: 'REAPER_EVALUATOR', flag: 'evaluator', description: 'Policy evaluator: compiled (fast, the default) or json-rules-engine (the reference the compiled one is tested against; slower)', default: 'compiled', parse: oneOf(EVALUATORS) },
  { key: 'members', env: 'REAPER_MEMBERS', flag: 'members', description: 'Replica-set members a pass reads and kills on: all (every data-bearing member, over direct connections; through mongos every shard member, with targetAllNodes) or primary (the primary only, or each shard\'s; secondaries are named as not covered)', default: 'all', parse: oneOf(MEMBERS_MODES) },
  { key: 'stateFile', env: 'REAPER_STATE_FILE', flag: 'state', description: 'JSON file keeping what earlier passes saw (sightings of each candidate, the last known client of each session), shared by concurrent runs under a lock; default $XDG_STATE_HOME/mongodb-session-reaper/sightings.json, else ~/.local/state/mongodb-session-reaper/sightings.json (the Lambda function keeps it in REAPER_STATE_TABLE instead)', default: '', parse: text },
  { key: 'secretArn', env: 'MONGODB_SECRET_ARN', flag: null, scope: 'lambda', description: 'Secrets Manager ARN holding the single cluster\'s connection string (the SecretString itself, or JSON with a "uri" field); fetched once per container', default: '', parse: (r, w) => checkSecretArn(r.trim(), w) },
  { key: 'clusters', env: 'REAPER_CLUSTERS', flag: null, scope: 'lambda', description: 'Several clusters from one deployment, JSON: {"NAME": {"secretArn": ARN | "uriEnv": VAR, "policySet"?: SET, "atlasClusterName"?: NAME, "atlasGroupId"?: ID, "scheduleRate"?: RATE}}; scheduleRate (rate(...) or cron(...), default the scheduleRate param) is read at package time only, for the cluster\'s schedule (infra/schedules.cjs)', default: null, parse: parseClusters },
  { key: 'policySets', env: 'REAPER_POLICY_SETS', flag: null, scope: 'lambda', description: 'Named policy sets besides "default" (REAPER_POLICIES_DIR) and "strict" (shipped rules, tighter thresholds), JSON: {"NAME": DIR | {"dir": DIR, "parameters": {"NAME": NUMBER}}}', default: null, parse: parsePolicySets },
  { key: 'alarms', env: 'REAPER_ALARMS', flag: null, scope: 'lambda', description: 'CloudWatch alarms that start a pass when they go to ALARM, JSON: {"ALARM_NAME": SET | {"cluster": NAME, "policySet": SET}}', default: null, parse: parseAlarms },
  { key: 'atlasAlerts', env: 'REAPER_ATLAS_ALERTS', flag: null, scope: 'lambda', description: 'Atlas alerts that start a pass, JSON: {"EVENT_TYPE_NAME[/METRIC_NAME]": SET | {"policySet": SET, "cluster": NAME}}', default: null, parse: parseAtlasAlerts },
  { key: 'webhookSecretArn', env: 'ATLAS_WEBHOOK_SECRET_ARN', flag: null, scope: 'lambda', description: 'Secrets Manager ARN of the Atlas webhook secret (the X-MMS-Signature key); fetched once per container', default: '', parse: (r, w) => checkSecretArn(r.trim(), w) },
  { key: 'webhookSecret', env: 'ATLAS_WEBHOOK_SECRET', flag: null, scope: 'lambda', description: 'The Atlas webhook secret itself, for local runs and tests (prefer ATLAS_WEBHOOK_SECRET_ARN)', default: '', parse: text },
  { key: 'reaperFunction', env: 'REAPER_FUNCTION_NAME', flag: null, scope: 'lambda', description: 'Name or ARN of the reaper function the Atlas webhook hands its passes to (asynchronous Invoke)', default: '', parse: text },
  { key: 'stateTable', env: 'REAPER_STATE_TABLE', flag: null, scope: 'lambda', description: 'DynamoDB state table (partition key pk, sort key sk, TTL attribute expiresAt): one lease per cluster, so passes of different clusters run in parallel and two of one cluster never do, and the Atlas alerts the webhook handed off, to refuse replays (empty: leases within the process only, replays undetected with a warning at start-up)', default: '', parse: (r) => r.trim() },
  // 240 s: shorter than the shortest interval at which Atlas notifies again of an alert still open
  // (an alert configuration's notifications[].intervalMin, "resend after" in the UI, is at least 5
  // minutes: Atlas Administration API, alert configurations), so every genuine re-notification
  // starts a pass; far longer than a burst of deliveries or replays of one notification.
  { key: 'atlasReplayWindowSeconds', env: 'ATLAS_REPLAY_WINDOW_SECONDS', flag: null, scope: 'lambda', description: 'Seconds within which a copy of an Atlas alert already handed off (same id, status and updated) starts no pass', default: 240, parse: integer(1, 86_400) },
  { key: 'snapshotBucket', env: 'REAPER_SNAPSHOT_BUCKET', flag: null, scope: 'lambda', description: 'S3 bucket the reaper function records every pass\'s snapshot into (values redacted; for `session-reaper backtest`); empty: no recording (the default)', default: '', parse: (r) => r.trim() },
  { key: 'snapshotPrefix', env: 'REAPER_SNAPSHOT_PREFIX', flag: null, scope: 'lambda', description: 'Key prefix of the recorded snapshots (objects are PREFIX CLUSTER/YYYY/MM/DD/TIME-RUNID.jsonl.gz)', default: 'snapshots/', parse: (r) => r.trim() },
];

/**
 * Resolves every setting: flag, then environment, then default. Flags come as strings (booleans as
 * "true"); `env` is injectable for tests and the Lambda handler. With scope "cli" (the default) the
 * Lambda-only settings keep their defaults whatever the environment says; with scope "lambda" they are
 * parsed too, and the connection string may come from MONGODB_SECRET_ARN or REAPER_CLUSTERS instead.
 */
export function resolveConfig(
  flags: Record<string, string | boolean | undefined>,
  env: Record<string, string | undefined> = process.env,
  scope: SettingsScope = 'cli',
  only?: readonly (keyof RunConfig)[],
): RunConfig {
  const out: Partial<RunConfig> = {};
  const assign = <K extends keyof RunConfig>(key: K, value: RunConfig[K]): void => {
    out[key] = value;
  };
  const given = (s: Setting<keyof RunConfig>): boolean => (s.flag !== null && flags[s.flag] !== undefined) || (env[s.env] !== undefined && env[s.env] !== '');
  const deferred: Setting<keyof RunConfig>[] = [];
  for (const s of SETTINGS) {
    if (only && !only.includes(s.key)) continue;
    const flag = s.flag === null ? undefined : flags[s.flag];
    if (s.scope === 'lambda' && scope !== 'lambda') {
      assign(s.key, s.default as RunConfig[keyof RunConfig]);
    } else if (flag !== undefined) {
      assign(s.key, s.parse(typeof flag === 'boolean' ? String(flag) : flag, `--${s.flag}`));
    } else if (env[s.env] !== undefined && env[s.env] !== '') {
      assign(s.key, s.parse(env[s.env]!, s.env));
    } else if (typeof s.default === 'function') {
      deferred.push(s);
    } else if (s.default !== undefined) {
      assign(s.key, s.default);
    } else if (scope === 'lambda' && s.alternatives?.some((k) => SETTINGS.some((o) => o.key === k && given(o)))) {
      assign(s.key, '' as RunConfig[keyof RunConfig]);
    } else {
      const alternatives = scope === 'lambda' ? (s.alternatives ?? []).map((k) => SETTINGS.find((o) => o.key === k)!.env) : [];
      const how = [s.flag !== null ? `pass --${s.flag}` : '', `set ${s.env}`].filter(Boolean).join(' or ');
      throw new ConfigError(`no ${s.key === 'uri' ? 'connection string' : s.key}: ${how}${alternatives.length ? ` (or ${alternatives.join(' or ')})` : ''}`);
    }
  }
  for (const s of deferred) assign(s.key, (s.default as (c: Partial<RunConfig>) => RunConfig[keyof RunConfig])(out));
  return out as RunConfig;
}

/**
 * Only the named settings of `session-reaper run` (flag, then environment, then default), for the commands
 * that share a few of them (snapshot: the connection string; backtest: the plan's caps and the evaluator).
 */
export function resolveSettings<K extends keyof RunConfig>(keys: readonly K[], flags: Record<string, string | boolean | undefined>, env: Record<string, string | undefined>): Pick<RunConfig, K> {
  return resolveConfig(flags, env, 'cli', keys);
}
