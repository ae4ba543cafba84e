/**
 * The deployment's shape as the Lambda functions see it: which clusters there are (and where each
 * one's connection string comes from), which named policy sets exist, and which alarm or Atlas alert
 * runs which policy set on which cluster. The raw values are settings of the one table in config.ts
 * (REAPER_CLUSTERS, REAPER_POLICY_SETS, REAPER_ALARMS, REAPER_ATLAS_ALERTS); the parsers here check
 * each JSON value against schemas/deployment-settings.json and turn it into a typed map, and
 * resolveDeployment cross-checks them against each other, so a cluster naming a policy set that does
 * not exist fails at start-up, naming the setting and the key.
 *
 * Nothing here reads a secret: a cluster's Secrets Manager ARN is checked for shape only; the value
 * is fetched on the cluster's first pass (src/adapters/secrets-manager.ts).
 */
import { isAbsolute, resolve } from 'node:path';
import { ConfigError, InvalidTriggerError } from '../util/errors.ts';
import { redactConnectionString } from '../util/redact.ts';
import { shippedPath } from '../util/shipped-path.ts';
import { validated, type CompiledValidator } from '../util/validate.ts';
import { validateAlarms } from './generated/validate-alarms.js';
import { validateAtlasAlerts } from './generated/validate-atlas-alerts.js';
import { validateClusters } from './generated/validate-clusters.js';
import { validatePolicySets } from './generated/validate-policy-sets.js';
import { validateSecretArn } from './generated/validate-secret-arn.js';

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

// Each JSON value is checked against its definition in schemas/deployment-settings.json, compiled
// ahead of time by scripts/generate-validators.ts (`npm run generate`); the parsers here only read
// the checked values into typed maps.

/** The setting's JSON value, checked against its schema; every ConfigError names the setting and shows an example. */
function parseSetting<T>(raw: string, where: string, validate: CompiledValidator, example: string): T {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (e) {
    throw new ConfigError(`${where} is not valid JSON (${(e as Error).message}); expected an object such as ${example}`, { cause: e });
  }
  return validated<T>(validate, value, { name: where, fields: 'dotted' }, (problems) => new ConfigError(`${problems}; e.g. ${example}`));
}

export function checkSecretArn(value: string, where: string): string {
  return validated<string>(validateSecretArn, value, { name: where }, (problem) => new ConfigError(problem));
}

export const CLUSTERS_EXAMPLE = '{"orders":{"secretArn":"arn:aws:secretsmanager:eu-west-1:123456789012:secret:orders-mongodb-AbCdEf","policySet":"default"}}';

type ClustersValue = Record<string, { secretArn?: string; uriEnv?: string; policySet?: string; atlasClusterName?: string; atlasGroupId?: string }>;

export function parseClusters(raw: string, where: string): ClusterSpec[] {
  const clusters = parseSetting<ClustersValue>(raw, where, validateClusters, CLUSTERS_EXAMPLE);
  return Object.entries(clusters).map(([name, spec]) => ({
    name,
    ...(spec.secretArn !== undefined ? { secretArn: spec.secretArn } : {}),
    ...(spec.uriEnv !== undefined ? { uriEnv: spec.uriEnv } : {}),
    policySet: spec.policySet ?? DEFAULT_POLICY_SET,
    atlasClusterName: spec.atlasClusterName?.trim() ?? name,
    ...(spec.atlasGroupId !== undefined ? { atlasGroupId: spec.atlasGroupId.trim() } : {}),
  }));
}

export const POLICY_SETS_EXAMPLE = '{"night":{"dir":"policies","parameters":{"idleTransactionSeconds":30}}}';

/** Relative directories resolve against the task root in Lambda (LAMBDA_TASK_ROOT), else the working directory. */
function policyDir(dir: string): string {
  const trimmed = dir.trim();
  return isAbsolute(trimmed) ? trimmed : resolve(process.env.LAMBDA_TASK_ROOT ?? process.cwd(), trimmed);
}

/** Named policy sets: {"name": "dir"} or {"name": {"dir": "...", "parameters": {...}}}. */
export function parsePolicySets(raw: string, where: string): PolicySetSpec[] {
  const sets = parseSetting<Record<string, string | { dir: string; parameters?: Record<string, number> }>>(raw, where, validatePolicySets, POLICY_SETS_EXAMPLE);
  return Object.entries(sets).map(([name, spec]) => (typeof spec === 'string'
    ? { name, dir: policyDir(spec), parameters: {} }
    : { name, dir: policyDir(spec.dir), parameters: { ...spec.parameters } }));
}

export const ALARMS_EXAMPLE = '{"orders-cpu-high":{"cluster":"orders","policySet":"strict"}}';

/** Alarm routes: {"alarmName": {"cluster"?: NAME, "policySet": NAME}} or {"alarmName": "policySet"}. */
export function parseAlarms(raw: string, where: string): AlarmRoute[] {
  const alarms = parseSetting<Record<string, string | { cluster?: string; policySet: string }>>(raw, where, validateAlarms, ALARMS_EXAMPLE);
  return Object.entries(alarms).map(([alarmName, route]) => (typeof route === 'string' ? { alarmName, policySet: route } : { alarmName, ...route }));
}

export const ATLAS_ALERTS_EXAMPLE = '{"OUTSIDE_METRIC_THRESHOLD/CONNECTIONS":"strict","HOST_HAS_INDEX_SUGGESTIONS":"default"}';

/** Atlas alert routes: {"EVENT_TYPE_NAME[/METRIC_NAME]": "policySet" | {"policySet", "cluster"?}}. */
export function parseAtlasAlerts(raw: string, where: string): AtlasAlertRoutes {
  const routes = parseSetting<Record<string, string | { policySet: string; cluster?: string }>>(raw, where, validateAtlasAlerts, ATLAS_ALERTS_EXAMPLE);
  return Object.fromEntries(Object.entries(routes).map(([key, route]) => [key, typeof route === 'string' ? { policySet: route } : { ...route }]));
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
