/**
 * Cluster leases in the reaper's DynamoDB state table (infra/state.yml: partition key `pk`, sort key `sk`,
 * TTL attribute `expiresAt` in epoch seconds). One item per cluster:
 *
 *   { pk: "lease#<cluster>", sk: "lease", owner, since (ISO), expiresAtMs, expiresAt }
 *
 * Taking it is one conditional PutItem: it succeeds when no item exists or the one there has expired
 * (a crashed invocation's lease is taken over once its expiry passes); otherwise DynamoDB answers
 * ConditionalCheckFailedException with the current item (ReturnValuesOnConditionCheckFailure), which names
 * the holder. Releasing is a DeleteItem conditional on still being the owner, so a pass whose lease expired
 * and was taken over never deletes its successor's. DynamoDB's TTL deletes stale items eventually (within
 * days: "Using time to live", Amazon DynamoDB Developer Guide); correctness never depends on it, only the
 * conditions do.
 */
// Type-only at the top: the SDK module is loaded by createDynamoDbLeases, so runs without a state table
// (the CLI, local invocations) never load it.
import type { AttributeValue, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { leaseHeld, type LeaseRequest, type LeaseStore, type ReleaseLease } from '../pass/ports.ts';
import { ReaperError } from '../util/errors.ts';

type Sdk = typeof import('@aws-sdk/client-dynamodb');

/**
 * Leases in `table` through a new client: `new DynamoDBClient({})` reads AWS_REGION, the default credential
 * chain and AWS_ENDPOINT_URL_DYNAMODB / AWS_ENDPOINT_URL, like every AWS SDK v3 client.
 */
export async function createDynamoDbLeases(table: string, now: () => number = Date.now): Promise<DynamoDbLeases> {
  const sdk = await import('@aws-sdk/client-dynamodb');
  return new DynamoDbLeases(new sdk.DynamoDBClient({}), table, now, sdk);
}

const isConditionFailure = (e: unknown): e is { Item?: Record<string, AttributeValue> } =>
  (e as { name?: unknown })?.name === 'ConditionalCheckFailedException';

const s = (v: string): AttributeValue => ({ S: v });
const n = (v: number): AttributeValue => ({ N: String(v) });

export class DynamoDbLeases implements LeaseStore {
  readonly #client: DynamoDBClient;
  readonly #table: string;
  readonly #now: () => number;
  readonly #sdk: Promise<Sdk>;

  constructor(client: DynamoDBClient, table: string, now: () => number = Date.now, sdk?: Sdk) {
    this.#client = client;
    this.#table = table;
    this.#now = now;
    this.#sdk = sdk ? Promise.resolve(sdk) : import('@aws-sdk/client-dynamodb');
  }

  async acquire({ cluster, owner, ttlMs }: LeaseRequest): Promise<ReleaseLease> {
    const { PutItemCommand, DeleteItemCommand } = await this.#sdk;
    const now = this.#now();
    const key = { pk: s(`lease#${cluster}`), sk: s('lease') };
    try {
      await this.#client.send(new PutItemCommand({
        TableName: this.#table,
        Item: { ...key, owner: s(owner), since: s(new Date(now).toISOString()), expiresAtMs: n(now + ttlMs), expiresAt: n(Math.ceil((now + ttlMs) / 1000)) },
        ConditionExpression: 'attribute_not_exists(pk) OR expiresAtMs < :now',
        ExpressionAttributeValues: { ':now': n(now) },
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      }));
    } catch (e) {
      if (isConditionFailure(e)) {
        const item = e.Item ?? {};
        throw leaseHeld(cluster, { owner: item.owner?.S ?? 'another pass', since: new Date(item.since?.S ?? now) });
      }
      throw new ReaperError(`cannot take the lease of cluster "${cluster}" in DynamoDB table ${this.#table}: ${(e as Error).message}; no pass started (check REAPER_STATE_TABLE and the function's dynamodb:PutItem permission)`, { cause: e });
    }
    let released = false;
    return Object.assign(async () => {
      if (released) return;
      released = true;
      try {
        await this.#client.send(new DeleteItemCommand({
          TableName: this.#table, Key: key,
          ConditionExpression: '#owner = :me', ExpressionAttributeNames: { '#owner': 'owner' }, ExpressionAttributeValues: { ':me': s(owner) },
        }));
      } catch (e) {
        // Taken over after it expired: the successor's lease stays. Anything else leaves the lease to expire
        // (at expiresAt, which withLease's warning names).
        if (!isConditionFailure(e)) {
          throw new ReaperError(`cannot release the lease of cluster "${cluster}" in ${this.#table}: ${(e as Error).message}`, { cause: e });
        }
      }
    }, { expiresAt: new Date(now + ttlMs) });
  }
}
