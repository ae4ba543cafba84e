/**
 * Sightings in the reaper's DynamoDB state table (infra/state.yml: partition key `pk`, sort key `sk`, TTL
 * attribute `expiresAt` in epoch seconds), for the Lambda function. One partition per cluster:
 *
 *   { pk: "sightings#<cluster>", sk: "head", generation, chunks, version (a random token), savedAt (ISO), expiresAt }
 *   { pk: "sightings#<cluster>", sk: "v<version>#<index>", data (gzip of the state's JSON, split), expiresAt }
 *
 * A state is written whole as a new generation: its chunks first (an item holds at most 400 KB, "Service,
 * account, and table quotas in Amazon DynamoDB"; a large cluster's state takes several), then the head, with a
 * PutItem conditional on the generation it was computed from. Chunks are named by a token of their own write,
 * so two writers never overwrite each other's, and a reader follows the head (consistent reads) to the chunks
 * of one write: it never mixes two; of two passes saving at once, the second's
 * condition fails, and it re-reads and applies its sightings on top of the first's (SightingsStore.update).
 * The superseded generation's chunks are then deleted; should that fail, they expire with their TTL.
 * The lease (dynamodb-leases.ts) already keeps two passes of one cluster apart: the condition is what holds
 * if a lease expired under a pass that was still running.
 */
import { randomUUID } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import type { AttributeValue, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { SightingsState, SightingsStore } from '../pass/ports.ts';
import { checkSightingsState } from '../pass/sightings.ts';
import { ReaperError } from '../util/errors.ts';

type Sdk = typeof import('@aws-sdk/client-dynamodb');

/**
 * Bytes of compressed state per chunk item: under the 400 KB item limit with room for the keys and attributes.
 */
export const CHUNK_BYTES = 350_000;
/**
 * How long a cluster's sightings outlive its last pass (the items' TTL). Our choice: a week covers a paused
 * schedule over a long weekend; a state older than that is of no use (sessions have expired long since).
 */
export const SIGHTINGS_TTL_SECONDS = 7 * 24 * 3600;
/** Attempts of one update when another pass's write wins the condition in between. */
const UPDATE_ATTEMPTS = 5;

const s = (v: string): AttributeValue => ({ S: v });
const n = (v: number): AttributeValue => ({ N: String(v) });

const isConditionFailure = (e: unknown): boolean => (e as { name?: unknown })?.name === 'ConditionalCheckFailedException';

/** Sightings in `table` through a new client (AWS_REGION, the default credential chain, AWS_ENDPOINT_URL_DYNAMODB). */
export async function createDynamoDbSightings(table: string): Promise<DynamoDbSightings> {
  const sdk = await import('@aws-sdk/client-dynamodb');
  return new DynamoDbSightings(new sdk.DynamoDBClient({}), table, sdk);
}

interface Head {
  generation: number;
  chunks: number;
  version: string;
}

const chunkKey = (version: string, i: number): AttributeValue => s(`v${version}#${String(i).padStart(4, '0')}`);

export class DynamoDbSightings implements SightingsStore {
  readonly where: string;
  readonly #client: DynamoDBClient;
  readonly #table: string;
  readonly #sdk: Promise<Sdk>;

  constructor(client: DynamoDBClient, table: string, sdk?: Sdk) {
    this.#client = client;
    this.#table = table;
    this.#sdk = sdk ? Promise.resolve(sdk) : import('@aws-sdk/client-dynamodb');
    this.where = `DynamoDB table ${table}`;
  }

  async load(cluster: string): Promise<SightingsState | null> {
    return (await this.read(cluster)).state;
  }

  async update(cluster: string, apply: (current: SightingsState | null) => SightingsState): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const { head, state } = await this.read(cluster);
      const next = apply(state);
      if (await this.write(cluster, head, next)) return;
      if (attempt >= UPDATE_ATTEMPTS) {
        throw new ReaperError(`another pass kept saving the sightings of cluster "${cluster}" in ${this.#table} (${UPDATE_ATTEMPTS} attempts lost the conditional write); is a second deployment using this table?`);
      }
    }
  }

  private async read(cluster: string): Promise<{ head: Head | null; state: SightingsState | null }> {
    const { GetItemCommand, QueryCommand } = await this.#sdk;
    const pk = s(`sightings#${cluster}`);
    try {
      const got = await this.#client.send(new GetItemCommand({ TableName: this.#table, Key: { pk, sk: s('head') }, ConsistentRead: true }));
      if (!got.Item) return { head: null, state: null };
      const head = { generation: Number(got.Item.generation?.N), chunks: Number(got.Item.chunks?.N), version: got.Item.version?.S ?? '' };
      const parts: Buffer[] = [];
      let start: Record<string, AttributeValue> | undefined;
      do {
        const page = await this.#client.send(new QueryCommand({
          TableName: this.#table, ConsistentRead: true,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
          ExpressionAttributeValues: { ':pk': pk, ':prefix': s(`v${head.version}#`) },
          ...(start ? { ExclusiveStartKey: start } : {}),
        }));
        for (const item of page.Items ?? []) parts[Number(item.sk!.S!.split('#')[1])] = Buffer.from(item.data!.B!);
        start = page.LastEvaluatedKey;
      } while (start);
      if (parts.length !== head.chunks || parts.some((p) => !p)) {
        throw new Error(`generation ${head.generation} (write ${head.version}) has ${parts.filter(Boolean).length} of its ${head.chunks} chunks`);
      }
      const state = JSON.parse(gunzipSync(Buffer.concat(parts)).toString('utf8')) as SightingsState;
      const problem = checkSightingsState(state);
      if (problem) throw new Error(`the stored state is invalid (${problem})`);
      return { head, state };
    } catch (e) {
      throw new ReaperError(`cannot read the sightings of cluster "${cluster}" from ${this.where}: ${(e as Error).message} (check REAPER_STATE_TABLE and the function's dynamodb:GetItem and dynamodb:Query permissions; deleting the cluster's "sightings#" items starts it afresh)`, { cause: e });
    }
  }

  /** Writes `state` as the generation after `head`; false when another write got there first. */
  private async write(cluster: string, head: Head | null, state: SightingsState): Promise<boolean> {
    const { PutItemCommand } = await this.#sdk;
    const pk = s(`sightings#${cluster}`);
    const generation = (head?.generation ?? 0) + 1;
    const version = randomUUID().slice(0, 8);
    const expiresAt = n(Math.ceil(state.savedAtMs / 1000) + SIGHTINGS_TTL_SECONDS);
    const zipped = gzipSync(JSON.stringify(state));
    const chunks: Buffer[] = [];
    for (let i = 0; i < zipped.length || i === 0; i += CHUNK_BYTES) chunks.push(zipped.subarray(i, i + CHUNK_BYTES));
    try {
      for (let i = 0; i < chunks.length; i++) {
        await this.#client.send(new PutItemCommand({ TableName: this.#table, Item: { pk, sk: chunkKey(version, i), data: { B: chunks[i]! }, expiresAt } }));
      }
      await this.#client.send(new PutItemCommand({
        TableName: this.#table,
        Item: { pk, sk: s('head'), generation: n(generation), chunks: n(chunks.length), version: s(version), savedAt: s(new Date(state.savedAtMs).toISOString()), expiresAt },
        ConditionExpression: head ? 'generation = :was' : 'attribute_not_exists(pk)',
        ...(head ? { ExpressionAttributeValues: { ':was': n(head.generation) } } : {}),
      }));
    } catch (e) {
      if (isConditionFailure(e)) {
        await this.deleteChunks(pk, version, chunks.length);
        return false;
      }
      throw new ReaperError(`cannot save the sightings of cluster "${cluster}" to ${this.where}: ${(e as Error).message} (check the function's dynamodb:PutItem permission)`, { cause: e });
    }
    if (head) await this.deleteChunks(pk, head.version, head.chunks);
    return true;
  }

  /** Chunks no head points to (superseded, or of a write that lost): best effort, their TTL removes what is left. */
  private async deleteChunks(pk: AttributeValue, version: string, count: number): Promise<void> {
    const { DeleteItemCommand } = await this.#sdk;
    for (let i = 0; i < count; i++) {
      await this.#client.send(new DeleteItemCommand({ TableName: this.#table, Key: { pk, sk: chunkKey(version, i) } })).catch(() => {});
    }
  }
}
