/**
 * Atlas alert webhook, behind a Lambda function URL (payload format 2.0).
 *
 * Order of work, cheapest refusal first: method and size; then the X-MMS-Signature check over the
 * raw body bytes (Base64 HMAC-SHA-1 with the shared secret, compared in constant time): a missing or
 * wrong signature gets 401 and nothing else happens; then the alert is parsed and mapped
 * (REAPER_ATLAS_ALERTS) to a cluster and a policy set; then, since Atlas signs no timestamp, a copy
 * of an alert already handed off within ATLAS_REPLAY_WINDOW_SECONDS (same id, status and updated,
 * recorded in the REAPER_STATE_TABLE DynamoDB table: src/adapters/dynamodb-alert-replays.ts) is
 * answered 200 and starts nothing.
 *
 * Answering quickly: a function URL is synchronous and Lambda freezes the environment as soon as
 * the handler returns, so "answer first, reap afterwards" cannot happen in this function. Instead it
 * hands the pass to the reaper function with an asynchronous Invoke (src/adapters/lambda-invoke.ts): Lambda
 * queues it and answers 202 in milliseconds, and this function answers Atlas 202 right after. The
 * pass then runs in the reaper function, one at a time with every other pass. This function never
 * connects to MongoDB, needs no VPC, and holds no connection string.
 *
 *   202 {"accepted": true, ...}   the pass was queued
 *   200 {"ignored": "..."}        a verified alert that starts nothing (not OPEN, not mapped, a replay)
 *   400 bad body   401 bad or missing signature   405 not POST   413 too large
 *   503 the pass could not be queued, the secret could not be read, or the state table could not
 *       be used (Atlas tries again)
 */
import type { Context, APIGatewayProxyStructuredResultV2 as LambdaFunctionURLResult, LambdaFunctionURLEvent } from 'aws-lambda';
import { dynamoDbAlertReplayGuard, type AlertReplayGuard } from '../src/adapters/dynamodb-alert-replays.ts';
import { resolveConfig } from '../src/service/config.ts';
import { resolveDeployment } from '../src/service/deployment.ts';
import { lambdaDispatcher, createLambdaClient } from '../src/adapters/lambda-invoke.ts';
import { ConfigError, DispatchError, InvalidTriggerError, SecretError, StateStoreError } from '../src/util/errors.ts';
import { logger } from '../src/service/lambda/log.ts';
import { CachedSecrets, createSecretsManagerClient } from '../src/adapters/secrets-manager.ts';
import { SIGNATURE_HEADER, verifySignature } from '../src/service/signature.ts';
import { redactError } from '../src/util/redact.ts';
import { ATLAS_MAX_BODY_BYTES, atlasDecision, parseAtlasAlert, type AtlasAlert, type AtlasHandoff } from '../src/service/triggers.ts';

// Module scope, once per container: configuration checked (a start-up error is redacted before the
// Lambda runtime prints it), clients created.
function configure() {
  try {
    const config = resolveConfig({}, process.env, 'lambda');
    const deployment = resolveDeployment(config, process.env, { readUris: false });
    if (!config.reaperFunction) throw new ConfigError('REAPER_FUNCTION_NAME is not set: name the reaper function the webhook hands its passes to');
    if (!config.webhookSecret === !config.webhookSecretArn) {
      throw new ConfigError('set exactly one of ATLAS_WEBHOOK_SECRET_ARN (Secrets Manager, for deployments) or ATLAS_WEBHOOK_SECRET (local runs): the key Atlas signs its webhooks with');
    }
    return { config, deployment };
  } catch (e) {
    throw redactError(e);
  }
}
const { config, deployment } = configure();
const secrets = config.webhookSecretArn ? new CachedSecrets(createSecretsManagerClient()) : null;
const dispatch = lambdaDispatcher(createLambdaClient(), config.reaperFunction);
const replays: AlertReplayGuard | null = config.stateTable
  ? dynamoDbAlertReplayGuard({ tableName: config.stateTable, windowSeconds: config.atlasReplayWindowSeconds })
  : null;
if (!replays) logger.warn('REAPER_STATE_TABLE is not set: a replayed Atlas alert starts a pass each time; set it to the state table (docs/deploy.md)');

function webhookSecret(): Promise<string> {
  return secrets ? secrets.get(config.webhookSecretArn).then((s) => s.trim()) : Promise.resolve(config.webhookSecret);
}

function reply(statusCode: number, body: object): LambdaFunctionURLResult {
  return { statusCode, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
}

function header(event: LambdaFunctionURLEvent, name: string): string | undefined {
  // Function URLs deliver header names in lower case; be lenient anyway.
  const key = Object.keys(event.headers ?? {}).find((k) => k.toLowerCase() === name);
  return key === undefined ? undefined : event.headers[key];
}

export async function handler(event: LambdaFunctionURLEvent, context?: Partial<Context> & Pick<Context, 'getRemainingTimeInMillis'>): Promise<LambdaFunctionURLResult> {
  if (context) logger.withInvocation(context);
  const source = event.requestContext?.http?.sourceIp ?? '?';
  if (event.requestContext?.http?.method !== 'POST') return reply(405, { error: 'only POST: Atlas posts its alerts' });
  const raw = Buffer.from(event.body ?? '', event.isBase64Encoded ? 'base64' : 'utf8');
  if (raw.length > ATLAS_MAX_BODY_BYTES) return reply(413, { error: `body over ${ATLAS_MAX_BODY_BYTES} bytes is not an Atlas alert` });

  let secret: string;
  try {
    secret = await webhookSecret();
  } catch (e) {
    logger.error(`webhook secret unavailable: ${(e as Error).message}`);
    return reply(503, { error: 'the webhook cannot verify requests right now; try again' });
  }
  const check = verifySignature(raw, header(event, SIGNATURE_HEADER), secret);
  if (!check.ok) {
    // Not the body: an unverified body is anybody's text.
    logger.warn('Atlas webhook refused', { why: `${check.why} ${SIGNATURE_HEADER}`, sourceIp: source, requestId: event.requestContext?.requestId });
    return reply(401, { error: check.why === 'missing' ? `missing ${SIGNATURE_HEADER} header` : `invalid ${SIGNATURE_HEADER}` });
  }

  let handoff: AtlasHandoff;
  let alert: AtlasAlert;
  try {
    alert = parseAtlasAlert(raw.toString('utf8'));
    const decision = atlasDecision(alert, deployment);
    if ('ignore' in decision) {
      logger.info(decision.ignore, { alertId: alert.id });
      return reply(200, { ignored: decision.ignore });
    }
    handoff = { kind: 'atlas-alert', cluster: decision.run.cluster, policySet: decision.run.policySet, trigger: decision.run.trigger };
  } catch (e) {
    if (e instanceof InvalidTriggerError) return reply(400, { error: e.message });
    throw e;
  }

  const accepted = { accepted: true, cluster: handoff.cluster, policySet: handoff.policySet, alertId: alert.id };
  const queue = async () => {
    await dispatch(handoff);
    return accepted;
  };
  const identity = { id: alert.id, status: alert.status, updated: alert.updated };
  try {
    const outcome = replays ? await replays.once(identity, queue, context) : { replayed: false as const, result: await queue() };
    if (outcome.replayed) {
      const ignored = `Atlas alert ${alert.id} (status ${alert.status}, updated ${alert.updated ?? '-'}) was already handed off ` +
        `within the last ${config.atlasReplayWindowSeconds} s (ATLAS_REPLAY_WINDOW_SECONDS): a copy starts no pass`;
      logger.warn('Atlas alert replay: no pass queued', { identity, sourceIp: source, inProgress: outcome.inProgress });
      return reply(200, { ignored, alertId: alert.id });
    }
  } catch (e) {
    if (!(e instanceof DispatchError || e instanceof SecretError || e instanceof StateStoreError)) throw e;
    logger.error(e.message, { handoff });
    return reply(503, { error: e instanceof StateStoreError ? 'the alert could not be recorded against replays; try again' : 'the pass could not be queued; try again' });
  }
  logger.info('Atlas alert accepted: pass queued', { handoff });
  return reply(202, accepted);
}
