/**
 * The reaper as a long-lived service, for the Lambda functions: configuration validated once, every
 * named policy set loaded once, one MongoClient per cluster reused across passes (a Lambda container
 * keeps them between invocations), connection strings fetched from Secrets Manager once per container.
 * It knows nothing of Lambda event types; the handlers in functions/ turn events into PassRequests.
 *
 * One cluster, one pass at a time: every pass holds the cluster's lease (src/service/lease.ts), in the DynamoDB
 * state table when REAPER_STATE_TABLE is set, so across every container of the deployment; passes of different
 * clusters run in parallel, as many as the reaper function's reserved concurrency (the reservedConcurrency
 * param, sized for the fleet) allows (docs/deploy.md).
 */
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { createAuditSink } from '../adapters/audit-sinks.ts';
import { createEventBridgeClient } from '../adapters/eventbridge.ts';
import type { TriggerInfo } from '../pass/audit/events.ts';
import type { AuditLogger, AuditSink } from '../pass/audit/sink.ts';
import { MongoAdapter } from '../adapters/mongodb/adapter.ts';
import { resolveConfig, type RunConfig } from './config.ts';
import { pickCluster, resolveDeployment, type ClusterTarget, type Deployment } from './deployment.ts';
import { ConfigError, PassInProgressError, PolicyError } from '../util/errors.ts';
import { InProcessLeases, withLease, type LeaseStore } from './lease.ts';
import { createDynamoDbLeases } from '../adapters/dynamodb-leases.ts';
import { withRecording } from './recording.ts';
import { createDynamoDbSightings } from '../adapters/dynamodb-sightings.ts';
import type { SightingsStore } from '../pass/ports.ts';
import { InMemorySightings } from '../pass/sightings.ts';
import { auditPassNotStarted, runPass, type PassOptions, type RunReport } from '../pass/pass.ts';
import { auditBudget } from '../pass/audit/budget.ts';
import { loadPolicySet } from '../pass/policy/load.ts';
import type { PolicySet } from '../pass/policy/types.ts';
import { redactUri } from '../util/redact.ts';
import { CachedSecrets, connectionStringFromSecret, createSecretsManagerClient, type SecretStore } from '../adapters/secrets-manager.ts';

/** Time kept back from the Lambda deadline to publish the audit events and return. */
export const DEADLINE_MARGIN_MS = 5_000;
/**
 * A lease outlives its pass's deadline by this much, so that a pass cut short by the function's timeout
 * (the invocation frozen before it released its lease) blocks its cluster for at most this long after the
 * timeout. Longer than DEADLINE_MARGIN_MS plus the run summary's delivery; short next to a 5-minute schedule.
 */
export const LEASE_MARGIN_MS = 30_000;
/** The budget assumed for a pass without a deadline (the CLI-style callers and tests): the function timeout. */
export const DEFAULT_PASS_BUDGET_MS = 120_000;

/**
 * The audit's publishing ends early enough to log in full, before Lambda cuts the invocation off, every
 * event it could not deliver (src/pass/audit/budget.ts): AUDIT_LOG_MARGIN_MS before the end, for the
 * return and the failure's own log lines, plus AUDIT_LOG_MS_PER_EVENT for each event of the publish. The
 * same reserve keeps the kill stage from starting kills whose events could not be logged in time.
 * Logging 10,000 undelivered events through the Lambda logger took ~1 s on one core here (0.1 ms each,
 * JSON lines into a pipe, as the Lambda runtime takes stdout); the reaper function has 512 MB, which
 * Lambda gives about 0.3 of a vCPU (CPU is allocated in proportion to memory, a full vCPU at 1,769 MB:
 * "Lambda memory and computing power", AWS Lambda Developer Guide), hence 0.5 ms per event.
 */
export const AUDIT_LOG_MARGIN_MS = 1_000;
export const AUDIT_LOG_MS_PER_EVENT = 0.5;

export interface PassRequest {
  /** Cluster name; the only cluster when absent. */
  cluster?: string;
  /** Named policy set; the cluster's own when absent. */
  policySet?: string;
  /** A one-off policy set (manual kills), used instead of any named one. */
  policy?: PolicySet;
  trigger: TriggerInfo;
  /**
   * Dry run asked by the trigger; absent means the deployment's DRY_RUN. DRY_RUN=true is a
   * deployment-wide switch: no trigger can turn it off.
   */
  dryRun?: boolean;
  /** Epoch ms by which the pass stops starting new kills. */
  deadlineMs?: number;
  /** The pass's run id, when the caller already logs under it (the Lambda runtime). */
  runId?: string;
  /** Epoch ms by which the audit's publishing must end (REAPER_AUDIT_TIMEOUT_SECONDS bounds it too). */
  auditDeadlineMs?: number;
}

export interface Reaper {
  readonly config: RunConfig;
  readonly deployment: Deployment;
  /** The loaded policy set of that name; throws ConfigError for an unknown name. */
  policySet(name: string): PolicySet;
  /** The cluster a trigger means (the named one, or the only one); throws InvalidTriggerError. */
  cluster(name: string | undefined, where: string): ClusterTarget;
  /** Runs one pass holding the cluster's lease; throws PassInProgressError when another holds it. */
  run(request: PassRequest): Promise<RunReport>;
  /** One pass on the only (or named) cluster with its own policy set. */
  runOnce(trigger: TriggerInfo, opts?: { deadlineMs?: number; auditDeadlineMs?: number; dryRun?: boolean; cluster?: string }): Promise<RunReport>;
  close(): Promise<void>;
}

export interface ReaperDeps {
  secrets?: SecretStore;
  eventBridge?: EventBridgeClient;
  leases?: LeaseStore;
  /** Audit sink instead of the one REAPER_AUDIT describes (tests). */
  sink?: AuditSink;
  /** Sightings store instead of the state table's (or, without one, the process's memory). */
  sightings?: SightingsStore;
  /**
   * The passes' clock, epoch ms (default Date.now): what idle times and ages are measured against. Tests give
   * the stand-in's clock, so time passes without waiting. Leases and the audit's deadlines stay wall-clock.
   */
  now?: () => number;
}

/**
 * Validates the configuration now (throws ConfigError naming the setting) and loads every named
 * policy set now (throws PolicyError naming file, rule and field, or ConfigError for a bad threshold):
 * a bad deployment fails at start-up, not mid-pass. Secrets are read on a cluster's first pass.
 */
export async function createReaper(env: Record<string, string | undefined>, logger: AuditLogger, deps: ReaperDeps = {}): Promise<Reaper> {
  // In Lambda the audit goes to EventBridge unless configured otherwise.
  const config = resolveConfig({ audit: env.REAPER_AUDIT ?? 'eventbridge' }, env, 'lambda');
  const deployment = resolveDeployment(config, env);
  const policies = new Map<string, PolicySet>();
  for (const spec of deployment.policySets.values()) {
    try {
      policies.set(spec.name, await loadPolicySet(spec.dir, { env, overrides: spec.parameters }));
    } catch (e) {
      if (e instanceof PolicyError) throw e;
      const setting = spec.name === 'default' ? 'REAPER_POLICIES_DIR' : spec.name === 'strict' ? 'the shipped "strict" set' : `REAPER_POLICY_SETS.${spec.name}`;
      throw new ConfigError(`policy set "${spec.name}" (${setting}) cannot be loaded: ${(e as Error).message}`, { cause: e });
    }
  }
  const sink: AuditSink = deps.sink ?? createAuditSink(config.audit, {
    settingName: 'REAPER_AUDIT', env, logger,
    ...(config.eventBusName ? { eventBusName: config.eventBusName } : {}),
    ...(config.audit.startsWith('eventbridge') ? { client: deps.eventBridge ?? createEventBridgeClient({}, { requestMs: config.auditRequestTimeoutSeconds * 1000 }) } : {}),
  });
  const needsSecrets = [...deployment.clusters.values()].some((c) => c.secretArn);
  const secrets: SecretStore | null = deps.secrets ?? (needsSecrets ? new CachedSecrets(createSecretsManagerClient()) : null);
  const leases: LeaseStore = deps.leases ?? (config.stateTable ? await createDynamoDbLeases(config.stateTable) : new InProcessLeases());
  let sightings = deps.sightings;
  if (!sightings && config.stateTable) sightings = await createDynamoDbSightings(config.stateTable);
  if (!sightings) {
    const leasesToo = leases instanceof InProcessLeases;
    logger.warn(`REAPER_STATE_TABLE is not set: sightings${leasesToo ? ' and cluster leases' : ''} are kept only in this process (a new container starts afresh, so rules waiting for a second sighting wait longer${leasesToo ? '; a lease holds only within this container, so it does not keep a pass in another container off the same cluster' : ''}); set it to the state table (docs/deploy.md)`);
    sightings = new InMemorySightings();
  }
  const adapters = new Map<string, Promise<MongoAdapter>>();
  const now = deps.now ?? Date.now;

  async function uriOf(cluster: ClusterTarget): Promise<string> {
    if (cluster.uri) return cluster.uri;
    return connectionStringFromSecret(await secrets!.get(cluster.secretArn!), cluster.secretArn!);
  }

  /** Drops the cluster's client and cached secret: the next pass reconnects with a fresh secret (rotation). */
  async function forget(cluster: ClusterTarget): Promise<void> {
    const adapter = adapters.get(cluster.name);
    adapters.delete(cluster.name);
    if (cluster.secretArn) secrets?.forget(cluster.secretArn);
    await adapter?.then((a) => a.close(), () => {});
  }

  function adapterFor(cluster: ClusterTarget): Promise<MongoAdapter> {
    let adapter = adapters.get(cluster.name);
    if (!adapter) {
      adapter = uriOf(cluster).then((uri) => MongoAdapter.connect(uri, {}, config.members));
      adapters.set(cluster.name, adapter);
      adapter.catch(() => void forget(cluster));
    }
    return adapter;
  }

  function policySet(name: string): PolicySet {
    const p = policies.get(name);
    if (!p) throw new ConfigError(`no policy set "${name}"; known sets: ${[...policies.keys()].join(', ')} (add sets with REAPER_POLICY_SETS)`);
    return p;
  }

  async function run(request: PassRequest): Promise<RunReport> {
    const cluster = pickCluster(deployment, request.cluster, `the ${request.trigger.type} trigger`);
    const policy = request.policy ?? policySet(request.policySet ?? cluster.policySet);
    const dryRun = config.dryRun || (request.dryRun ?? false);
    const owner = `${request.trigger.type}${request.trigger.id ? ` ${request.trigger.id}` : ''}${request.runId ? `, run ${request.runId}` : ''}`;
    const opts: PassOptions = {
      cluster: cluster.name, trigger: request.trigger, dryRun, maxKills: config.maxKills, maxKillShare: config.maxKillShare,
      batchSize: config.batchSize, concurrency: config.concurrency, source: config.source, evaluator: config.evaluator, now, sightings,
      ...(request.deadlineMs !== undefined ? { deadlineMs: request.deadlineMs } : {}),
      ...(request.runId !== undefined ? { runId: request.runId } : {}),
      audit: auditBudget({
        timeoutMs: config.auditTimeoutSeconds * 1000,
        ...(request.auditDeadlineMs !== undefined ? { deadlineMs: request.auditDeadlineMs, logMsPerEvent: AUDIT_LOG_MS_PER_EVENT } : {}),
      }),
    };
    // Leases are wall-clock (their expiry is compared by the lease store, DynamoDB included), whatever the pass's clock.
    const ttlMs = (request.deadlineMs ?? Date.now() + DEFAULT_PASS_BUDGET_MS) - Date.now() + LEASE_MARGIN_MS;
    try {
      return await withLease(leases, { cluster: cluster.name, owner, ttlMs }, async () => {
        const mongo = await adapterFor(cluster);
        const report = await withRecording(config, cluster.name, mongo, logger, (port, now) => runPass(port, policy, sink, now ? { ...opts, now } : opts));
        if (report.error) {
          logger.warn(`pass ${report.runId} on ${cluster.name} failed (${redactUri(report.error)}); its client and cached secret are dropped so the next pass starts afresh`);
          await forget(cluster);
        }
        return report;
      }, logger);
    } catch (e) {
      if (e instanceof PassInProgressError) await auditPassNotStarted(sink, opts, e.message);
      throw e;
    }
  }

  return {
    config,
    deployment,
    policySet,
    cluster: (name, where) => pickCluster(deployment, name, where),
    run,
    runOnce(trigger, opts = {}) {
      return run({
        trigger,
        ...(opts.cluster !== undefined ? { cluster: opts.cluster } : {}),
        ...(opts.dryRun !== undefined ? { dryRun: opts.dryRun } : {}),
        ...(opts.deadlineMs !== undefined ? { deadlineMs: opts.deadlineMs } : {}),
        ...(opts.auditDeadlineMs !== undefined ? { auditDeadlineMs: opts.auditDeadlineMs } : {}),
      });
    },
    async close() {
      const open = [...adapters.values()];
      adapters.clear();
      await Promise.all(open.map((a) => a.then((m) => m.close(), () => {})));
      await sink.close?.();
    },
  };
}
