/**
 * Deployment configuration: several clusters, named policy sets, alarm and Atlas routes. Every
 * invalid value fails at start-up with a message naming the setting (and the key inside it), and
 * no connection string's credentials appear in any message.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createReaper } from '../src/service/app.ts';
import { resolveConfig } from '../src/service/config.ts';
import { resolveDeployment } from '../src/service/deployment.ts';
import { ConfigError } from '../src/util/errors.ts';

const ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:session-reaper/orders-AbCdEf';
const quiet = { error: () => {}, warn: () => {} };

/** Config and deployment as createReaper resolves them, without loading policies or connecting. */
function resolve(env: Record<string, string>) {
  const config = resolveConfig({ audit: 'stdout' }, env, 'lambda');
  return { config, deployment: resolveDeployment(config, env) };
}

const configError = (pattern: RegExp) => (e: unknown) => e instanceof ConfigError && pattern.test((e as Error).message);

describe('REAPER_CLUSTERS', () => {
  test('several clusters, each with its connection string source and policy set', () => {
    // Act
    const { deployment } = resolve({
      REAPER_CLUSTERS: JSON.stringify({ orders: { secretArn: ARN }, billing: { uriEnv: 'BILLING_URI', policySet: 'strict', atlasClusterName: 'billing-prod' } }),
      BILLING_URI: 'mongodb://reaper:pw@billing:27017',
    });
    // Assess
    assert.deepEqual([...deployment.clusters.keys()], ['orders', 'billing']);
    assert.equal(deployment.clusters.get('orders')!.secretArn, ARN);
    assert.equal(deployment.clusters.get('orders')!.uri, undefined, 'the secret is not read at start-up');
    assert.equal(deployment.clusters.get('billing')!.uri, 'mongodb://reaper:pw@billing:27017');
    assert.equal(deployment.clusters.get('billing')!.policySet, 'strict');
  });

  test('each kind of mistake names REAPER_CLUSTERS and the cluster', () => {
    assert.throws(() => resolve({ REAPER_CLUSTERS: '{orders:' }), configError(/^REAPER_CLUSTERS is not valid JSON/));
    assert.throws(() => resolve({ REAPER_CLUSTERS: '[]' }), configError(/^REAPER_CLUSTERS must be an object naming one or more clusters, got \[\]; e\.g\. \{"orders":/));
    assert.throws(() => resolve({ REAPER_CLUSTERS: '{}' }), configError(/^REAPER_CLUSTERS must be an object naming one or more clusters, got \{\}/));
    assert.throws(() => resolve({ REAPER_CLUSTERS: '{"orders":{}}' }), configError(/^REAPER_CLUSTERS\.orders must be an object with exactly one of "secretArn" \(a Secrets Manager ARN\) or "uriEnv"/));
    assert.throws(() => resolve({ REAPER_CLUSTERS: `{"orders":{"secretArn":"${ARN}","uriEnv":"X"}}` }), configError(/^REAPER_CLUSTERS\.orders must be an object with exactly one of/));
    assert.throws(() => resolve({ REAPER_CLUSTERS: '{"orders":{"secretArn":"orders-secret"}}' }), configError(/^REAPER_CLUSTERS\.orders\.secretArn must be a Secrets Manager secret ARN \(arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-SUFFIX\), got "orders-secret"/));
    assert.throws(() => resolve({ REAPER_CLUSTERS: '{"orders":{"uriEnv":"1X"}}' }), configError(/REAPER_CLUSTERS\.orders\.uriEnv must be an environment variable name, got "1X"/));
    assert.throws(() => resolve({ REAPER_CLUSTERS: `{"orders":{"secretArn":"${ARN}","policy":"x"}}` }), configError(/REAPER_CLUSTERS\.orders has unknown field "policy"; allowed: secretArn, uriEnv, policySet, atlasClusterName, atlasGroupId/));
    assert.throws(() => resolve({ REAPER_CLUSTERS: `{"orders":{"secretArn":"${ARN}","policySet":"lenient"}}` }), configError(/REAPER_CLUSTERS\.orders\.policySet names policy set "lenient", which does not exist/));
    assert.throws(() => resolve({ REAPER_CLUSTERS: '{"orders":{"uriEnv":"ORDERS_URI"}}' }), configError(/REAPER_CLUSTERS\.orders\.uriEnv names ORDERS_URI, which is not set/));
    assert.throws(() => resolve({ REAPER_CLUSTERS: '{"bad name":{"uriEnv":"X"}}' }), configError(/REAPER_CLUSTERS: key "bad name" must be a name of 1-64 letters/));
  });

  test('a wrong connection string in a uriEnv variable is reported without its password', () => {
    assert.throws(
      () => resolve({ REAPER_CLUSTERS: '{"orders":{"uriEnv":"ORDERS_URI"}}', ORDERS_URI: 'postgres://reaper:hunter2@db' }),
      (e: Error) => configError(/ORDERS_URI \(REAPER_CLUSTERS\.orders\.uriEnv\) must be a mongodb:\/\//)(e) && !e.message.includes('hunter2'),
    );
  });

  test('REAPER_CLUSTERS excludes MONGODB_URI and MONGODB_SECRET_ARN, and those two exclude each other', () => {
    assert.throws(() => resolve({ REAPER_CLUSTERS: `{"orders":{"secretArn":"${ARN}"}}`, MONGODB_URI: 'mongodb://h' }), configError(/REAPER_CLUSTERS is set together with MONGODB_URI/));
    assert.throws(() => resolve({ MONGODB_SECRET_ARN: ARN, MONGODB_URI: 'mongodb://h' }), configError(/MONGODB_URI and MONGODB_SECRET_ARN are both set/));
  });
});

describe('one cluster', () => {
  test('MONGODB_SECRET_ARN alone is enough in Lambda; the cluster is named after the secret', () => {
    const { config, deployment } = resolve({ MONGODB_SECRET_ARN: ARN });
    assert.equal(config.uri, '');
    assert.deepEqual([...deployment.clusters.keys()], ['session-reaper/orders']);
  });

  test('without any connection string source, the error names all three settings', () => {
    assert.throws(() => resolve({}), configError(/no connection string: pass --uri or set MONGODB_URI \(or MONGODB_SECRET_ARN or REAPER_CLUSTERS\)/));
    assert.throws(() => resolve({ MONGODB_SECRET_ARN: 'orders' }), configError(/^MONGODB_SECRET_ARN must be a Secrets Manager secret ARN/));
  });

  test('the CLI keeps its settings: Lambda-only variables are not read there', () => {
    // Prepare: a shell where a Lambda variable is set to garbage.
    const env = { MONGODB_URI: 'mongodb://h:1', REAPER_CLUSTERS: '{garbage', MONGODB_SECRET_ARN: 'x' };
    // Act
    const config = resolveConfig({}, env);
    // Assess
    assert.equal(config.uri, 'mongodb://h:1');
    assert.equal(config.clusters, null);
    assert.throws(() => resolveConfig({}, { MONGODB_SECRET_ARN: ARN }), /pass --uri or set MONGODB_URI$/);
  });
});

describe('policy sets, alarms and Atlas routes', () => {
  test('routes must name existing clusters and policy sets', () => {
    const base = { REAPER_CLUSTERS: `{"orders":{"secretArn":"${ARN}"},"billing":{"secretArn":"${ARN}"}}` };
    assert.throws(() => resolve({ ...base, REAPER_ALARMS: '{"cpu":"strict"}' }), configError(/REAPER_ALARMS\.cpu names no cluster and the deployment has 2/));
    assert.throws(() => resolve({ ...base, REAPER_ALARMS: '{"cpu":{"cluster":"nope","policySet":"strict"}}' }), configError(/REAPER_ALARMS\.cpu\.cluster names cluster "nope"/));
    assert.throws(() => resolve({ ...base, REAPER_ALARMS: '{"cpu":{"cluster":"orders"}}' }), configError(/^REAPER_ALARMS\.cpu\.policySet is missing; give the name of the policy set the alarm runs; e\.g\./));
    assert.throws(() => resolve({ ...base, REAPER_ALARMS: '{"cpu":5}' }), configError(/^REAPER_ALARMS\.cpu must be a policy set name or \{"cluster": NAME, "policySet": NAME\}, got 5/));
    assert.throws(() => resolve({ ...base, REAPER_ATLAS_ALERTS: '{"connections":"strict"}' }), configError(/REAPER_ATLAS_ALERTS: key "connections" must be an Atlas eventTypeName/));
    assert.throws(() => resolve({ ...base, REAPER_ATLAS_ALERTS: '{"HOST_DOWN":"panic"}' }), configError(/REAPER_ATLAS_ALERTS\.HOST_DOWN\.policySet names policy set "panic"/));
    assert.throws(() => resolve({ ...base, REAPER_POLICY_SETS: '{"night":{"parameters":{}}}' }), configError(/REAPER_POLICY_SETS\.night\.dir is missing; give the directory of the set's \*\.json policy files/));
    assert.throws(() => resolve({ ...base, REAPER_POLICY_SETS: '{"night":{"dir":"policies","parameters":{"idleTransactionSeconds":"30"}}}' }), configError(/REAPER_POLICY_SETS\.night\.parameters\.idleTransactionSeconds must be a number, got "30"/));
  });

  test('every policy set is loaded at start-up: a bad one fails createReaper, naming it', async () => {
    const env = { MONGODB_URI: 'mongodb://127.0.0.1:1', REAPER_AUDIT: 'stdout' };
    await assert.rejects(createReaper({ ...env, REAPER_POLICY_SETS: '{"night":"/nonexistent/policies"}' }, quiet), /cannot read the policy directory/);
    await assert.rejects(
      createReaper({ ...env, REAPER_POLICY_SETS: '{"night":{"dir":"policies","parameters":{"idleTxnSeconds":30}}}' }, quiet),
      configError(/policy set "night" \(REAPER_POLICY_SETS\.night\) cannot be loaded: override "idleTxnSeconds" names no parameter/),
    );
  });

  test('the shipped sets: "default" with everyday thresholds, "strict" tighter', async () => {
    // Act
    const reaper = await createReaper({ MONGODB_URI: 'mongodb://127.0.0.1:1', REAPER_AUDIT: 'stdout', REAPER_POLICY_SETS: '{"night":{"dir":"policies","parameters":{"idleTransactionSeconds":30}}}' }, quiet);
    try {
      // Assess
      const p = (set: string) => reaper.policySet(set).parameters;
      assert.deepEqual(p('default'), { idleTransactionSeconds: 60, minSightings: 2, protectOutputAggregations: 1, protectUnknownApplications: 1, runawayOperationSeconds: 300, staleCursorIdleSeconds: 900 });
      assert.deepEqual(p('strict'), { idleTransactionSeconds: 15, minSightings: 2, protectOutputAggregations: 1, protectUnknownApplications: 1, runawayOperationSeconds: 60, staleCursorIdleSeconds: 300 });
      assert.equal(p('night').idleTransactionSeconds, 30);
      assert.throws(() => reaper.policySet('nope'), configError(/no policy set "nope"; known sets: default, strict, night/));
    } finally {
      await reaper.close();
    }
  });
});
