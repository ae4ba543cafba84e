/**
 * The deployment's shape as the Lambda functions see it: which clusters there are (and where each
 * one's connection string comes from), which named policy sets exist, and which alarm or Atlas alert
 * runs which policy set on which cluster. The raw values are settings of the one table in config.ts
 * (REAPER_CLUSTERS, REAPER_POLICY_SETS, REAPER_ALARMS, REAPER_ATLAS_ALERTS); the parsers here turn
 * each JSON value into a typed map, and resolveDeployment cross-checks them against each other, so a
 * cluster naming a policy set that does not exist fails at start-up, naming the setting and the key.
 *
 * Nothing here reads a secret: a cluster's Secrets Manager ARN is checked for shape only; the value
 * is fetched on the cluster's first pass (src/adapters/secrets-manager.ts).
 */
import { isAbsolute, resolve } from 'node:path';
import { ConfigError, InvalidTriggerError } from '../util/errors.ts';
import { redactConnectionString } from '../util/redact.ts';
import { shippedPath } from '../util/shipped-path.ts';

/** Where the shipped policy sets live (the `default` set is this directory itself). */
export const SHIPPED_POLICIES_DIR = shippedPath('policies');

/**
 * The shipped `strict` set: the default rules with thresholds about four times tighter, for passes
 * started by an alarm or an Atlas alert, when the cluster is already in trouble and waiting out the
 * everyday thresholds would keep it there. Our choice, no external source; each value stays above
 * the rule's declared minimum, and 300 s for cursors stays under the server's 10-minute default
 * cursorTimeoutMillis, so a cursor kept alive on purpose is caught before the server would act.
 */
export const STRICT_THRESHOLDS: Readonly<Record<string, number>> = {
  idleTransactionSeconds: 15,
  runawayOperationSeconds: 60,
  staleCursorIdleSeconds: 300,
};

export const DEFAULT_POLICY_SET = 'default';

export interface ClusterSpec {
  /** The name in triggers and audit events. */
  name: string;
  /** Secrets Manager ARN whose SecretString is the connection string (or JSON with a "uri" field). */
  secretArn?: string;
  /** Name of an environment variable holding the connection string. */
  uriEnv?: string;
  /** The policy set a scheduled pass runs when its input names none. */
  policySet: string;
  /** Atlas `clusterName` of alerts for this cluster (default: the cluster name). */
  atlasClusterName: string;
  /** Atlas project (`groupId`) of alerts for this cluster; any project when absent. */
  atlasGroupId?: string;
}

export interface PolicySetSpec {
  name: string;
  /** Directory of *.json policy files. */
  dir: string;
  /** Threshold overrides by parameter name (highest precedence, above the environment). */
  parameters: Record<string, number>;
}

export interface AlarmRoute {
  alarmName: string;
  /** Absent when the deployment has exactly one cluster. */
  cluster?: string;
  policySet: string;
}

/** Keyed by "EVENT_TYPE_NAME/METRIC_NAME" or "EVENT_TYPE_NAME"; the longer key wins. */
export type AtlasAlertRoutes = Record<string, { policySet: string; cluster?: string }>;

// ---- JSON setting parsers (the `parse` of their rows in config.ts) ----

function parseJsonObject(raw: string, where: string, example: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (e) {
    throw new ConfigError(`${where} is not valid JSON (${(e as Error).message}); expected an object such as ${example}`, { cause: e });
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ConfigError(`${where} must be a JSON object such as ${example}`);
  }
  return value as Record<string, unknown>;
}

function checkKeys(obj: Record<string, unknown>, allowed: readonly string[], where: string): void {
  const unknown = Object.keys(obj).filter((k) => !allowed.includes(k));
  if (unknown.length) throw new ConfigError(`${where} has unknown field(s) ${unknown.map((k) => `"${k}"`).join(', ')}; allowed: ${allowed.join(', ')}`);
}

function optionalString(obj: Record<string, unknown>, key: string, where: string): string | undefined {
  const v = obj[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v.trim() === '') throw new ConfigError(`${where}.${key} must be a non-empty string, got ${JSON.stringify(v)}`);
  return v.trim();
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

function checkName(name: string, where: string, what: string): void {
  if (!NAME.test(name)) throw new ConfigError(`${where}: ${what} name "${name}" must be 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit`);
}

/**
 * Secrets Manager secret ARN: arn:PARTITION:secretsmanager:REGION:ACCOUNT:secret:NAME-SUFFIX
 * ("Resource types defined by AWS Secrets Manager", Service Authorization Reference).
 */
const SECRET_ARN = /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+$/;

export function checkSecretArn(value: string, where: string): string {
  if (!SECRET_ARN.test(value)) {
    throw new ConfigError(`${where} must be a Secrets Manager secret ARN (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-SUFFIX), got "${value}"`);
  }
  return value;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export const CLUSTERS_EXAMPLE = '{"orders":{"secretArn":"arn:aws:secretsmanager:eu-west-1:123456789012:secret:orders-mongodb-AbCdEf","policySet":"default"}}';

export function parseClusters(raw: string, where: string): ClusterSpec[] {
  const obj = parseJsonObject(raw, where, CLUSTERS_EXAMPLE);
  const out: ClusterSpec[] = [];
  for (const [name, value] of Object.entries(obj)) {
    const at = `${where}.${name}`;
    checkName(name, where, 'cluster');
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new ConfigError(`${at} must be an object with "secretArn" or "uriEnv", e.g. ${CLUSTERS_EXAMPLE}`);
    const spec = value as Record<string, unknown>;
    checkKeys(spec, ['secretArn', 'uriEnv', 'policySet', 'atlasClusterName', 'atlasGroupId'], at);
    const secretArn = optionalString(spec, 'secretArn', at);
    const uriEnv = optionalString(spec, 'uriEnv', at);
    if ((secretArn === undefined) === (uriEnv === undefined)) {
      throw new ConfigError(`${at} needs exactly one of "secretArn" (a Secrets Manager ARN) or "uriEnv" (the name of an environment variable holding the connection string)`);
    }
    if (secretArn !== undefined) checkSecretArn(secretArn, `${at}.secretArn`);
    if (uriEnv !== undefined && !ENV_NAME.test(uriEnv)) throw new ConfigError(`${at}.uriEnv must be an environment variable name, got "${uriEnv}"`);
    out.push({
      name,
      ...(secretArn !== undefined ? { secretArn } : {}),
      ...(uriEnv !== undefined ? { uriEnv } : {}),
      policySet: optionalString(spec, 'policySet', at) ?? DEFAULT_POLICY_SET,
      atlasClusterName: optionalString(spec, 'atlasClusterName', at) ?? name,
      ...(spec.atlasGroupId !== undefined ? { atlasGroupId: optionalString(spec, 'atlasGroupId', at)! } : {}),
    });
  }
  if (out.length === 0) throw new ConfigError(`${where} names no cluster; give at least one, e.g. ${CLUSTERS_EXAMPLE}`);
  return out;
}

export const POLICY_SETS_EXAMPLE = '{"night":{"dir":"policies","parameters":{"idleTransactionSeconds":30}}}';

function parameterMap(value: unknown, where: string): Record<string, number> {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new ConfigError(`${where} must be an object of parameter name to number`);
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new ConfigError(`${where}.${k} must be a number, got ${JSON.stringify(v)}`);
    out[k] = v;
  }
  return out;
}

/** Relative directories resolve against the task root in Lambda (LAMBDA_TASK_ROOT), else the working directory. */
function policyDir(dir: string): string {
  return isAbsolute(dir) ? dir : resolve(process.env.LAMBDA_TASK_ROOT ?? process.cwd(), dir);
}

/** Named policy sets: {"name": "dir"} or {"name": {"dir": "...", "parameters": {...}}}. */
export function parsePolicySets(raw: string, where: string): PolicySetSpec[] {
  const obj = parseJsonObject(raw, where, POLICY_SETS_EXAMPLE);
  return Object.entries(obj).map(([name, value]) => {
    const at = `${where}.${name}`;
    checkName(name, where, 'policy set');
    if (typeof value === 'string') return { name, dir: policyDir(value), parameters: {} };
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new ConfigError(`${at} must be a directory or {"dir": DIR, "parameters": {...}}, e.g. ${POLICY_SETS_EXAMPLE}`);
    const spec = value as Record<string, unknown>;
    checkKeys(spec, ['dir', 'parameters'], at);
    const dir = optionalString(spec, 'dir', at);
    if (dir === undefined) throw new ConfigError(`${at}.dir is missing: name the directory of the set's *.json policy files`);
    return { name, dir: policyDir(dir), parameters: parameterMap(spec.parameters, `${at}.parameters`) };
  });
}

export const ALARMS_EXAMPLE = '{"orders-cpu-high":{"cluster":"orders","policySet":"strict"}}';

/** Alarm routes: {"alarmName": {"cluster"?: NAME, "policySet": NAME}} or {"alarmName": "policySet"}. */
export function parseAlarms(raw: string, where: string): AlarmRoute[] {
  const obj = parseJsonObject(raw, where, ALARMS_EXAMPLE);
  return Object.entries(obj).map(([alarmName, value]) => {
    const at = `${where}.${alarmName}`;
    if (typeof value === 'string' && value.trim() !== '') return { alarmName, policySet: value.trim() };
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new ConfigError(`${at} must be a policy set name or {"cluster": NAME, "policySet": NAME}, e.g. ${ALARMS_EXAMPLE}`);
    const spec = value as Record<string, unknown>;
    checkKeys(spec, ['cluster', 'policySet'], at);
    const policySet = optionalString(spec, 'policySet', at);
    if (policySet === undefined) throw new ConfigError(`${at}.policySet is missing: name the policy set the alarm runs`);
    const cluster = optionalString(spec, 'cluster', at);
    return { alarmName, policySet, ...(cluster !== undefined ? { cluster } : {}) };
  });
}

export const ATLAS_ALERTS_EXAMPLE = '{"OUTSIDE_METRIC_THRESHOLD/CONNECTIONS":"strict","HOST_HAS_INDEX_SUGGESTIONS":"default"}';

const ATLAS_KEY = /^[A-Z0-9_]+(\/[A-Z0-9_]+)?$/;

/** Atlas alert routes: {"EVENT_TYPE_NAME[/METRIC_NAME]": "policySet" | {"policySet", "cluster"?}}. */
export function parseAtlasAlerts(raw: string, where: string): AtlasAlertRoutes {
  const obj = parseJsonObject(raw, where, ATLAS_ALERTS_EXAMPLE);
  const out: AtlasAlertRoutes = {};
  for (const [key, value] of Object.entries(obj)) {
    const at = `${where}.${key}`;
    if (!ATLAS_KEY.test(key)) throw new ConfigError(`${where}: key "${key}" must be an Atlas eventTypeName, optionally with "/" and a metricName, e.g. "OUTSIDE_METRIC_THRESHOLD/CONNECTIONS"`);
    if (typeof value === 'string' && value.trim() !== '') {
      out[key] = { policySet: value.trim() };
      continue;
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new ConfigError(`${at} must be a policy set name or {"policySet": NAME, "cluster": NAME}`);
    const spec = value as Record<string, unknown>;
    checkKeys(spec, ['policySet', 'cluster'], at);
    const policySet = optionalString(spec, 'policySet', at);
    if (policySet === undefined) throw new ConfigError(`${at}.policySet is missing`);
    const cluster = optionalString(spec, 'cluster', at);
    out[key] = { policySet, ...(cluster !== undefined ? { cluster } : {}) };
  }
  return out;
}

// ---- cross-checks ----

export interface DeploymentInput {
  /** From MONGODB_URI; '' when absent. */
  uri: string;
  /** From MONGODB_SECRET_ARN; '' when absent. */
  secretArn: string;
  /** From REAPER_CLUSTER or the URI's hosts. */
  cluster: string;
  policiesDir: string;
  clusters: ClusterSpec[] | null;
  policySets: PolicySetSpec[] | null;
  alarms: AlarmRoute[] | null;
  atlasAlerts: AtlasAlertRoutes | null;
}

/** A cluster with where its connection string comes from, resolved as far as possible without a secret. */
export interface ClusterTarget extends ClusterSpec {
  /** The connection string when it comes from the environment; undefined when it is in Secrets Manager. */
  uri?: string;
}

export interface Deployment {
  clusters: Map<string, ClusterTarget>;
  policySets: Map<string, PolicySetSpec>;
  alarms: Map<string, AlarmRoute>;
  atlasAlerts: AtlasAlertRoutes;
}

/**
 * A connection string as given (trimmed), or a ConfigError naming `where`. The refused value is
 * echoed with its credentials masked: a usage error is exactly where a mistyped
 * "reaper:SECRET@host" (no mongodb://) would otherwise be printed whole.
 */
export function checkConnectionString(raw: string, where: string): string {
  const value = raw.trim();
  if (!/^mongodb(\+srv)?:\/\//.test(value)) {
    throw new ConfigError(`${where} must be a mongodb:// or mongodb+srv:// connection string, got "${redactConnectionString(value)}"`);
  }
  return value;
}

/**
 * Builds the deployment from the resolved settings and cross-checks it. Every ConfigError names the
 * setting (and the key inside it) to fix.
 */
export function resolveDeployment(
  input: DeploymentInput,
  env: Record<string, string | undefined>,
  opts: { readUris?: boolean } = {},
): Deployment {
  // The webhook function maps alerts to clusters by name and never connects: it does not need (and
  // should not be given) the variables holding connection strings.
  const readUris = opts.readUris ?? true;
  const policySets = new Map<string, PolicySetSpec>([
    [DEFAULT_POLICY_SET, { name: DEFAULT_POLICY_SET, dir: input.policiesDir, parameters: {} }],
    ['strict', { name: 'strict', dir: SHIPPED_POLICIES_DIR, parameters: { ...STRICT_THRESHOLDS } }],
  ]);
  for (const s of input.policySets ?? []) policySets.set(s.name, s);

  const clusters = new Map<string, ClusterTarget>();
  if (input.clusters) {
    if (input.uri || input.secretArn) {
      throw new ConfigError('REAPER_CLUSTERS is set together with MONGODB_URI or MONGODB_SECRET_ARN; use one: REAPER_CLUSTERS for several clusters, or one of the others for a single cluster');
    }
    for (const c of input.clusters) {
      const target: ClusterTarget = { ...c };
      if (c.uriEnv && readUris) {
        const value = env[c.uriEnv]?.trim();
        if (!value) throw new ConfigError(`REAPER_CLUSTERS.${c.name}.uriEnv names ${c.uriEnv}, which is not set; set it to the cluster's connection string`);
        target.uri = checkConnectionString(value, `${c.uriEnv} (REAPER_CLUSTERS.${c.name}.uriEnv)`);
      }
      clusters.set(c.name, target);
    }
  } else if (input.secretArn) {
    if (input.uri) throw new ConfigError('MONGODB_URI and MONGODB_SECRET_ARN are both set; keep one (the secret in production, the URI for local runs)');
    clusters.set(input.cluster, { name: input.cluster, secretArn: checkSecretArn(input.secretArn, 'MONGODB_SECRET_ARN'), policySet: DEFAULT_POLICY_SET, atlasClusterName: input.cluster });
  } else if (input.uri) {
    clusters.set(input.cluster, { name: input.cluster, uri: input.uri, policySet: DEFAULT_POLICY_SET, atlasClusterName: input.cluster });
  } else {
    throw new ConfigError('no connection string: pass --uri or set MONGODB_URI (or, in Lambda, MONGODB_SECRET_ARN or REAPER_CLUSTERS)');
  }

  const knownSet = (name: string, where: string): void => {
    if (!policySets.has(name)) throw new ConfigError(`${where} names policy set "${name}", which does not exist; known sets: ${[...policySets.keys()].join(', ')} (add sets with REAPER_POLICY_SETS)`);
  };
  const knownCluster = (name: string, where: string): void => {
    if (!clusters.has(name)) throw new ConfigError(`${where} names cluster "${name}", which is not configured; known clusters: ${[...clusters.keys()].join(', ')}`);
  };
  for (const c of clusters.values()) knownSet(c.policySet, `REAPER_CLUSTERS.${c.name}.policySet`);

  const alarms = new Map<string, AlarmRoute>();
  for (const a of input.alarms ?? []) {
    knownSet(a.policySet, `REAPER_ALARMS.${a.alarmName}.policySet`);
    if (a.cluster !== undefined) knownCluster(a.cluster, `REAPER_ALARMS.${a.alarmName}.cluster`);
    else if (clusters.size !== 1) throw new ConfigError(`REAPER_ALARMS.${a.alarmName} names no cluster and the deployment has ${clusters.size}; add "cluster"`);
    alarms.set(a.alarmName, a);
  }
  const atlasAlerts = input.atlasAlerts ?? {};
  for (const [key, route] of Object.entries(atlasAlerts)) {
    knownSet(route.policySet, `REAPER_ATLAS_ALERTS.${key}.policySet`);
    if (route.cluster !== undefined) knownCluster(route.cluster, `REAPER_ATLAS_ALERTS.${key}.cluster`);
  }
  return { clusters, policySets, alarms, atlasAlerts };
}

/** The cluster a trigger means: the one it names, or the only one. */
export function pickCluster(deployment: Deployment, named: string | undefined, where: string): ClusterTarget {
  if (named !== undefined) {
    const c = deployment.clusters.get(named);
    if (!c) throw new InvalidTriggerError(`${where} names cluster "${named}", which is not configured; known clusters: ${[...deployment.clusters.keys()].join(', ')}`);
    return c;
  }
  if (deployment.clusters.size === 1) return deployment.clusters.values().next().value!;
  throw new InvalidTriggerError(`${where} names no cluster and the deployment has ${deployment.clusters.size} (${[...deployment.clusters.keys()].join(', ')}); name one`);
}
