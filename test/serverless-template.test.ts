/**
 * What the deployment template promises an operator before anything is deployed (serverless.yml, infra/):
 * the schedule generator as osls calls it, and the template packaged offline the way .ci/run packages it.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const yml = readFileSync(new URL('../serverless.yml', import.meta.url), 'utf8');

interface Resource { Type: string; Properties: Record<string, any> }
interface Template { Parameters: Record<string, { Default?: unknown; AllowedValues?: unknown[] }>; Resources: Record<string, Resource>; Outputs: Record<string, unknown> }
type Generate = (ctx: { resolveVariable: (v: string) => Promise<string> }) => Promise<{ Resources: Record<string, Resource> }>;

/** infra/schedules.cjs as osls calls it (a .cjs exporting a function under `resources`), with these params. */
function generateSchedules(params: Record<string, string>): ReturnType<Generate> {
  const generate = createRequire(import.meta.url)('../infra/schedules.cjs') as Generate;
  return generate({ resolveVariable: async (v) => params[v]! });
}

const ARN = (name: string) => `arn:aws:secretsmanager:us-east-1:123456789012:secret:session-reaper/${name}-AbCdEf`;
const FLEET = {
  orders: { secretArn: ARN('orders'), policySet: 'default' },
  'billing-eu': { secretArn: ARN('billing-eu'), policySet: 'strict' },
  search: { secretArn: ARN('search'), scheduleRate: 'rate(1 minute)' },
};

const out = mkdtempSync(join(tmpdir(), 'reaper-package-'));
after(() => rmSync(out, { recursive: true, force: true }));

/**
 * `npm run package` as .ci/run runs it: inside a network namespace without network where the machine allows
 * one (unshare -rn), else with the network present (it is not used). Into a temporary directory rather than
 * .serverless/, with a three-cluster deployment. Packaged once for the tests that read the template.
 */
let packaged: Promise<Template> | undefined;
function packageTemplate(): Promise<Template> {
  packaged ??= new Promise((resolve, reject) => {
    const npm = ['npm', 'run', 'package', '--', '--package', out, `--param=clusters=${JSON.stringify(FLEET)}`,
      `--param=mongodbSecretArns=${Object.values(FLEET).map((c) => c.secretArn).join(',')}`];
    const [cmd, ...args] = spawnSync('unshare', ['-rn', 'true']).status === 0 ? ['unshare', '-rn', ...npm] : npm;
    execFile(cmd!, args, { cwd: ROOT, timeout: 120_000 }, (error, stdout, stderr) => {
      if (error) return reject(new Error(`npm run package failed: ${error.message}\n${stdout}\n${stderr}`));
      resolve(JSON.parse(readFileSync(join(out, 'cloudformation-template-update-stack.json'), 'utf8')) as Template);
    });
  });
  return packaged;
}

test('packaged offline: one EventBridge Scheduler schedule per cluster, in one group, with its rate and policy set', async () => {
  // Act
  const template = await packageTemplate();
  // Assess
  const resources = Object.values(template.Resources);
  const groups = Object.entries(template.Resources).filter(([, r]) => r.Type === 'AWS::Scheduler::ScheduleGroup');
  assert.equal(groups.length, 1, 'one schedule group');
  const schedules = resources.filter((r) => r.Type === 'AWS::Scheduler::Schedule');
  assert.equal(schedules.length, 3, 'one schedule per cluster');
  assert.ok(schedules.every((r) => r.Properties.GroupName.Ref === groups[0]![0]), 'every schedule is in that group');
  const byCluster = new Map(schedules.map((r) => [JSON.parse(r.Properties.Target.Input).cluster as string, r.Properties]));
  assert.deepEqual([...byCluster.keys()].sort(), Object.keys(FLEET).sort());
  assert.deepEqual(Object.fromEntries([...byCluster].map(([c, p]) => [c, [p.ScheduleExpression, JSON.parse(p.Target.Input).policySet]])), {
    orders: ['rate(5 minutes)', 'default'], 'billing-eu': ['rate(5 minutes)', 'strict'], search: ['rate(1 minute)', 'default'],
  });
  assert.equal(new Set(schedules.map((r) => r.Properties.Name)).size, 3, 'three schedule names');
  // The schedules' clusters are the ones the reaper is told about: REAPER_CLUSTERS is the same param.
  assert.deepEqual(JSON.parse(template.Resources.ReaperLambdaFunction!.Properties.Environment.Variables.REAPER_CLUSTERS), FLEET);
});

test('packaged offline: a first deploy is a dry run, and the DryRun parameter switches it without packaging again', async () => {
  // Act
  const template = await packageTemplate();
  // Assess: DRY_RUN is the DryRun parameter, "true" unless overridden (the dryRun osls param is its default)
  assert.deepEqual(template.Resources.ReaperLambdaFunction!.Properties.Environment.Variables.DRY_RUN, { Ref: 'DryRun' });
  assert.equal(template.Parameters.DryRun!.Default, 'true');
  assert.deepEqual(template.Parameters.DryRun!.AllowedValues, ['true', 'false']);
  assert.match(yml, /^ {4}dryRun: 'true'$/m, 'one source of the default: the dryRun param');
});

test('packaged offline: every stack output docs/deploy.md names is an output of the template', async () => {
  // Prepare: the outputs the deploy guide names: `<NAME output>` in commands, (`NAME`) in step 5's list
  const guide = readFileSync(new URL('../docs/deploy.md', import.meta.url), 'utf8');
  const step5 = guide.slice(guide.indexOf("The stack's outputs name"), guide.indexOf('6. **Atlas:**'));
  const named = [...guide.matchAll(/<(\w+) output>/g), ...step5.matchAll(/\(`(\w+)`\)/g)].map((m) => m[1]!);
  assert.ok(named.includes('AuditLogGroupName') && named.length >= 7, `the guide names the outputs: ${named.join(', ')}`);
  // Act
  const template = await packageTemplate();
  // Assess
  assert.deepEqual(named.filter((n) => !(n in template.Outputs)), [], 'outputs the guide names that the template does not have');
});

test('one EventBridge Scheduler schedule per cluster of the clusters param, in one group, with its rate and policy set', async () => {
  // Act
  const { Resources } = await generateSchedules({
    'param:clusters': JSON.stringify({ orders: { secretArn: 'arn:x', policySet: 'strict' }, 'billing-eu': { uriEnv: 'B', scheduleRate: 'rate(1 minute)' } }),
    'param:scheduleRate': 'rate(5 minutes)',
  });
  // Assess
  const schedules = Object.values(Resources).filter((r) => r.Type === 'AWS::Scheduler::Schedule');
  assert.equal(schedules.length, 2);
  const byCluster = new Map(schedules.map((r) => [JSON.parse(r.Properties.Target.Input).cluster, r.Properties]));
  assert.equal(byCluster.get('orders')!.ScheduleExpression, 'rate(5 minutes)');
  assert.equal(JSON.parse(byCluster.get('orders')!.Target.Input).policySet, 'strict');
  assert.equal(byCluster.get('billing-eu')!.ScheduleExpression, 'rate(1 minute)');
  assert.ok(schedules.every((r) => r.Properties.GroupName.Ref === 'ReaperScheduleGroup'));
  assert.equal(Object.values(Resources).filter((r) => r.Type === 'AWS::Scheduler::ScheduleGroup').length, 1);
  assert.match(yml, /^ {4}REAPER_CLUSTERS: \$\{param:clusters\}$/m);
});

test('two clusters whose schedule names would be the same once cut to 64 characters are refused at package time, naming both', async () => {
  // Prepare: two names of 64 characters sharing their first 60: "reap-" and 59 of them fill a schedule name
  const common = 'orders-eu-west-1-production-primary-analytics-cluster-000000-';
  const [a, b] = [`${common}abc`, `${common}xyz`];
  assert.equal(common.length + 3, 64);
  // Act, Assess
  await assert.rejects(
    generateSchedules({ 'param:clusters': JSON.stringify({ [a]: { uriEnv: 'A' }, [b]: { uriEnv: 'B' } }), 'param:scheduleRate': 'rate(5 minutes)' }),
    (e: Error) => e.message.includes(`"${a}"`) && e.message.includes(`"${b}"`) && /same schedule name "reap-.{59}"/.test(e.message) && /shorten/.test(e.message),
  );
});
