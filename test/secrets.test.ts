/**
 * Secrets Manager: fetched once per container and cached, failures not cached, values never in errors.
 * The SDK is mocked (aws-sdk-client-mock); the integration test reads a real secret from moto.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GetSecretValueCommand, ResourceNotFoundException, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { SecretError } from '../src/util/errors.ts';
import { CachedSecrets, connectionStringFromSecret } from '../src/adapters/secrets-manager.ts';

const ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:orders-AbCdEf';

test('a secret is fetched once and served from the cache afterwards, also to concurrent callers', async () => {
  // Prepare
  const sm = mockClient(SecretsManagerClient);
  sm.on(GetSecretValueCommand, { SecretId: ARN }).resolves({ SecretString: 'mongodb://reaper:pw@orders:27017' });
  const secrets = new CachedSecrets(new SecretsManagerClient({ region: 'us-east-1' }));
  // Act
  const values = await Promise.all([secrets.get(ARN), secrets.get(ARN), secrets.get(ARN)]);
  const later = await secrets.get(ARN);
  // Assess
  assert.deepEqual(new Set([...values, later]), new Set(['mongodb://reaper:pw@orders:27017']));
  assert.equal(sm.commandCalls(GetSecretValueCommand).length, 1);
  sm.restore();
});

test('a failed fetch is not cached, and forget() makes the next get() fetch again (rotation)', async () => {
  // Prepare
  const sm = mockClient(SecretsManagerClient);
  sm.on(GetSecretValueCommand)
    .rejectsOnce(new ResourceNotFoundException({ message: 'Secrets Manager can\'t find the specified secret.', $metadata: {} }))
    .resolvesOnce({ SecretString: 'mongodb://reaper:old@orders' })
    .resolves({ SecretString: 'mongodb://reaper:new@orders' });
  const secrets = new CachedSecrets(new SecretsManagerClient({ region: 'us-east-1' }));
  // Act + Assess
  await assert.rejects(secrets.get(ARN), (e: Error) => e instanceof SecretError && /cannot read secret .*orders-AbCdEf: ResourceNotFoundException/.test(e.message));
  assert.equal(await secrets.get(ARN), 'mongodb://reaper:old@orders');
  assert.equal(await secrets.get(ARN), 'mongodb://reaper:old@orders');
  secrets.forget(ARN);
  assert.equal(await secrets.get(ARN), 'mongodb://reaper:new@orders');
  assert.equal(sm.commandCalls(GetSecretValueCommand).length, 3);
  sm.restore();
});

test('a binary secret is refused with a clear message', async () => {
  const sm = mockClient(SecretsManagerClient);
  sm.on(GetSecretValueCommand).resolves({ SecretBinary: new Uint8Array([1, 2]) });
  const secrets = new CachedSecrets(new SecretsManagerClient({ region: 'us-east-1' }));
  await assert.rejects(secrets.get(ARN), /has no SecretString \(binary secrets are not supported\)/);
  sm.restore();
});

test('a connection-string secret is the URI itself or JSON with "uri"', () => {
  assert.equal(connectionStringFromSecret(' mongodb+srv://r:p@c.example.net/ ', ARN), 'mongodb+srv://r:p@c.example.net/');
  assert.equal(connectionStringFromSecret('{"uri":"mongodb://r:p@h:27017","username":"r"}', ARN), 'mongodb://r:p@h:27017');
});

test('an unusable secret is refused without quoting it', () => {
  for (const value of ['postgres://r:hunter2@h', 'hunter2 {', '{"password":"hunter2"}', '{"uri":"http://r:hunter2@h"}']) {
    assert.throws(() => connectionStringFromSecret(value, ARN), (e: Error) => e instanceof SecretError && e.message.includes(ARN) && !e.message.includes('hunter2'), value);
  }
});
