/**
 * Replay protection for Atlas alerts, kept in the state table (DynamoDB) with Powertools Idempotency
 * (@aws-lambda-powertools/idempotency and its DynamoDB persistence layer).
 *
 * Atlas signs the body (X-MMS-Signature) but no timestamp or nonce, so a signed alert posted again,
 * by Atlas retrying or by anybody who saw it once, verifies again: without this, each copy started a
 * pass (with the alert's policy set, usually "strict"). An alert is known by what Atlas changes when
 * the alert changes: `id`, `status`, `updated`. The first hand-off of an identity is recorded with an
 * expiry of the replay window; a copy within the window finds the record and queues nothing. After
 * the window the record has expired (Powertools compares the expiry itself; DynamoDB's TTL only
 * removes the item later), so the same identity starts a pass again.
 *
 * If the hand-off fails, Powertools deletes the record, so Atlas's retry is not taken for a replay.
 * If the record cannot be written or read, the alert is refused (503, Atlas tries again): a signed
 * alert without replay protection is what this module exists to prevent.
 *
 * Items (the project's one state table: partition key `pk`, sort key `sk`, TTL attribute `expiresAt`
 * in epoch seconds): pk "atlas-alert", sk "atlas-alert#" + the base64 MD5 of the identity as JSON;
 * plus Powertools' own `status`, `data` (the hand-off's answer) and `in_progress_expiration`.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { IdempotencyAlreadyInProgressError, IdempotencyConfig, IdempotencyUnknownError, makeIdempotent } from '@aws-lambda-powertools/idempotency';
import { DynamoDBPersistenceLayer } from '@aws-lambda-powertools/idempotency/dynamodb';
import type { Context } from 'aws-lambda';
import { StateStoreError } from '../util/errors.ts';

/** The state table's key and TTL attributes (infra/state.yml). */
export const STATE_TABLE_KEYS = { partitionKey: 'pk', sortKey: 'sk', ttl: 'expiresAt' } as const;

/** Partition of the alert records (leases and sightings will have their own). */
const ALERT_PARTITION = 'atlas-alert';

/** What tells one Atlas alert notification from another: Atlas changes `status` and `updated` when the alert changes. */
export interface AlertIdentity {
  id: string;
  status: string;
  /** Absent when the alert carries none: the identity is then id and status. */
  updated?: string;
}

export type ReplayOutcome<T> = { replayed: false; result: T } | { replayed: true; result: T | null; inProgress: boolean };

export interface AlertReplayGuard {
  /**
   * Runs `handOff` unless this identity was handed off within the window; then answers its
   * recorded result instead. Throws what `handOff` throws (the record is then removed), or
   * StateStoreError when the table cannot be used.
   */
  once<T extends object>(identity: AlertIdentity, handOff: () => Promise<T>, context?: Pick<Context, 'getRemainingTimeInMillis'>): Promise<ReplayOutcome<T>>;
}

export interface AlertReplayGuardOptions {
  tableName: string;
  windowSeconds: number;
  /** Reads AWS_REGION, the credential chain and AWS_ENDPOINT_URL(_DYNAMODB) like every SDK v3 client. */
  client?: DynamoDBClient;
}

export function dynamoDbAlertReplayGuard(options: AlertReplayGuardOptions): AlertReplayGuard {
  const persistenceStore = new DynamoDBPersistenceLayer({
    tableName: options.tableName,
    keyAttr: STATE_TABLE_KEYS.partitionKey,
    sortKeyAttr: STATE_TABLE_KEYS.sortKey,
    staticPkValue: ALERT_PARTITION,
    expiryAttr: STATE_TABLE_KEYS.ttl,
    awsSdkV3Client: options.client ?? new DynamoDBClient({}),
  });
  // A replay answers the first hand-off's recorded result, marked as a replay.
  const config = new IdempotencyConfig({
    expiresAfterSeconds: options.windowSeconds,
    responseHook: (response) => ({ ...(response as object), replayed: true }),
  });
  // The payload Powertools hashes is the first argument, the identity; the hand-off itself is the second.
  const handOffOnce = makeIdempotent(
    async (_identity: AlertIdentity, handOff: () => Promise<object>) => ({ replayed: false, result: await handOff() }),
    { persistenceStore, config, keyPrefix: ALERT_PARTITION },
  );
  return {
    async once<T extends object>(identity: AlertIdentity, handOff: () => Promise<T>, context?: Pick<Context, 'getRemainingTimeInMillis'>) {
      // The in-progress record of a hand-off that crashed expires with the invocation, not the window.
      if (context) config.registerLambdaContext(context as Context);
      // Exactly these fields are hashed (an absent `updated` drops out of the JSON).
      const key: AlertIdentity = { id: identity.id, status: identity.status, updated: identity.updated };
      try {
        const outcome = await handOffOnce(key, handOff) as { replayed: boolean; result: T };
        return outcome.replayed ? { replayed: true, result: outcome.result, inProgress: false } : { replayed: false, result: outcome.result };
      } catch (e) {
        // A copy arriving while the first is still being handed off (milliseconds): a replay as well.
        if (e instanceof IdempotencyAlreadyInProgressError) return { replayed: true, result: null, inProgress: true };
        if (e instanceof IdempotencyUnknownError) {
          const cause = e.cause as { name?: string; message?: string } | undefined;
          throw new StateStoreError(`cannot record Atlas alert ${identity.id} in the state table ${options.tableName}: ${e.message}${cause ? ` (${cause.name ?? 'Error'}: ${cause.message ?? ''})` : ''}; check the table exists and the function's role may call dynamodb:PutItem, GetItem, UpdateItem and DeleteItem on it`, { cause: e });
        }
        throw e;
      }
    },
  };
}
