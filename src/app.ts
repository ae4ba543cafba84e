/**
 * The reaper as a long-lived service: configuration validated once, the policy set loaded once, one
 * MongoClient reused across passes (a Lambda container keeps it between invocations). Lambda handlers
 * call this; it knows nothing of Lambda types.
 */
import { createAuditSink, createEventBridgeClient } from './audit/index.ts';
import type { TriggerInfo } from './audit/events.ts';
import type { AuditLogger, AuditSink } from './audit/sink.ts';
import { MongoAdapter } from './adapters/mongodb.ts';
import { resolveConfig, type RunConfig } from './config.ts';
import { runPass, type RunReport } from './pass.ts';
import { loadPolicySet } from './policy/load.ts';
import type { PolicySet } from './policy/types.ts';

/** Time kept back from the Lambda deadline to publish the audit events and return. */
export const DEADLINE_MARGIN_MS = 5_000;

export interface Reaper {
  readonly config: RunConfig;
  runOnce(trigger: TriggerInfo, opts?: { deadlineMs?: number; dryRun?: boolean }): Promise<RunReport>;
  close(): Promise<void>;
}

/**
 * Validates the configuration now (throws ConfigError naming the setting) and loads the policy set now
 * (throws PolicyError naming file, rule and field): a bad deployment fails at start-up, not mid-pass.
 */
export async function createReaper(env: Record<string, string | undefined>, logger: AuditLogger): Promise<Reaper> {
  // In Lambda the audit goes to EventBridge unless configured otherwise.
  const config = resolveConfig({ audit: env.REAPER_AUDIT ?? 'eventbridge' }, env);
  const policy: PolicySet = await loadPolicySet(config.policiesDir, { env });
  const sink: AuditSink = createAuditSink(config.audit, {
    settingName: 'REAPER_AUDIT', env, logger,
    ...(config.eventBusName ? { eventBusName: config.eventBusName } : {}),
    ...(config.audit.startsWith('eventbridge') ? { client: createEventBridgeClient() } : {}),
  });
  let mongo: MongoAdapter | null = null;
  return {
    config,
    async runOnce(trigger, opts = {}) {
      mongo ??= await MongoAdapter.connect(config.uri);
      return runPass(mongo, policy, sink, {
        cluster: config.cluster, trigger, dryRun: opts.dryRun ?? config.dryRun, maxKills: config.maxKills, maxKillShare: config.maxKillShare,
        batchSize: config.batchSize, concurrency: config.concurrency, source: config.source,
        ...(opts.deadlineMs !== undefined ? { deadlineMs: opts.deadlineMs } : {}),
      });
    },
    async close() {
      await mongo?.close();
      mongo = null;
      await sink.close?.();
    },
  };
}
