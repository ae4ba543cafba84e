/**
 * Secrets from AWS Secrets Manager, fetched once per container and cached: the connection strings of
 * the clusters and the Atlas webhook key. A Lambda container lives for many invocations, so one
 * GetSecretValue per secret per container keeps both the latency and the Secrets Manager bill down.
 *
 * Rotation: a cached value stays until the container is recycled, or until the caller forgets it
 * (the reaper forgets a cluster's secret when connecting with it fails, so the next invocation
 * fetches the rotated value). A failed fetch is not cached.
 *
 * No secret value ever reaches an error message or a log line: errors name the ARN and what went
 * wrong, and JSON parse errors are not passed on (V8's message quotes the start of the input).
 */
// Type-only: the SDK module is loaded on first use, so a deployment without secrets does not pay for
// loading it at cold start (measured by `npm run bench:cold`).
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SecretError } from '../util/errors.ts';
import { isObject } from '../util/validate.ts';

export interface SecretStore {
  /** The SecretString of the secret. */
  get(arn: string): Promise<string>;
  /** Drops the cached value so the next get() fetches it again. */
  forget(arn: string): void;
}

/**
 * `new SecretsManagerClient({})` reads AWS_REGION, the default credential chain and the endpoint from
 * AWS_ENDPOINT_URL_SECRETS_MANAGER / AWS_ENDPOINT_URL, like every AWS SDK v3 client (see
 * createEventBridgeClient in src/adapters/eventbridge.ts for the sources).
 */
export async function createSecretsManagerClient(): Promise<SecretsManagerClient> {
  const sdk = await import('@aws-sdk/client-secrets-manager');
  return new sdk.SecretsManagerClient({});
}

export class CachedSecrets implements SecretStore {
  readonly #client: SecretsManagerClient | Promise<SecretsManagerClient>;
  readonly #cache = new Map<string, Promise<string>>();
  /** GetSecretValue calls made, for tests and the run log. */
  fetches = 0;

  constructor(client: SecretsManagerClient | Promise<SecretsManagerClient>) {
    this.#client = client;
  }

  get(arn: string): Promise<string> {
    let value = this.#cache.get(arn);
    if (!value) {
      value = this.#fetch(arn);
      this.#cache.set(arn, value);
      // A failure is not cached: the next invocation tries again.
      value.catch(() => this.#cache.delete(arn));
    }
    return value;
  }

  forget(arn: string): void {
    this.#cache.delete(arn);
  }

  async #fetch(arn: string): Promise<string> {
    this.fetches++;
    let out;
    try {
      const [client, { GetSecretValueCommand }] = await Promise.all([this.#client, import('@aws-sdk/client-secrets-manager')]);
      out = await client.send(new GetSecretValueCommand({ SecretId: arn }));
    } catch (e) {
      const err = e as { name?: string; message?: string };
      throw new SecretError(`cannot read secret ${arn}: ${err.name ?? 'Error'}: ${err.message ?? String(e)}; check the ARN and that the function's role may call secretsmanager:GetSecretValue on it`, { cause: e });
    }
    if (typeof out.SecretString !== 'string' || out.SecretString === '') {
      throw new SecretError(`secret ${arn} has no SecretString (binary secrets are not supported); store the value as a string`);
    }
    return out.SecretString;
  }
}

/** Secrets given directly (tests, local runs). */
export class StaticSecrets implements SecretStore {
  constructor(private readonly values: Record<string, string>) {}
  async get(arn: string): Promise<string> {
    const v = this.values[arn];
    if (v === undefined) throw new SecretError(`no secret ${arn}`);
    return v;
  }
  forget(): void {}
}

/**
 * A connection-string secret holds the URI itself, or a JSON object with a "uri" field (the shape
 * most rotation templates write other fields next to).
 */
export function connectionStringFromSecret(value: string, arn: string): string {
  const trimmed = value.trim();
  if (/^mongodb(\+srv)?:\/\//.test(trimmed)) return trimmed;
  let parsed: unknown;
  try {
    parsed = JSON.parse(trimmed);
  } catch {
    // Not the parse error's message: it quotes the secret.
    throw new SecretError(`secret ${arn} is neither a mongodb:// connection string nor JSON with a "uri" field`);
  }
  const uri = isObject(parsed) ? parsed.uri : undefined;
  if (typeof uri !== 'string' || !/^mongodb(\+srv)?:\/\//.test(uri.trim())) {
    throw new SecretError(`secret ${arn} is JSON without a "uri" field holding a mongodb:// or mongodb+srv:// connection string`);
  }
  return uri.trim();
}
