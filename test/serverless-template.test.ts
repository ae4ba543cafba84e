/**
 * What the deployment template promises an operator before anything is deployed (serverless.yml).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

const yml = readFileSync(new URL('../serverless.yml', import.meta.url), 'utf8');

test('a first deploy is a dry run: the dryRun param defaults to true and feeds the reaper\'s DRY_RUN', () => {
  assert.match(yml, /^ {4}dryRun: 'true'$/m);
  assert.match(yml, /^ {6}DRY_RUN: \$\{param:dryRun\}$/m);
});

test('one EventBridge Scheduler schedule per cluster of the clusters param, in one group, with its rate and policy set', async () => {
  // Prepare: infra/schedules.cjs as osls calls it, with a two-cluster deployment
  const { createRequire } = await import('node:module');
  const generate = createRequire(import.meta.url)('../infra/schedules.cjs') as (ctx: { resolveVariable: (v: string) => Promise<string> }) => Promise<{ Resources: Record<string, { Type: string; Properties: Record<string, any> }> }>;
  const params: Record<string, string> = {
    'param:clusters': JSON.stringify({ orders: { secretArn: 'arn:x', policySet: 'strict' }, 'billing-eu': { uriEnv: 'B', scheduleRate: 'rate(1 minute)' } }),
    'param:scheduleRate': 'rate(5 minutes)',
  };
  // Act
  const { Resources } = await generate({ resolveVariable: async (v) => params[v]! });
  // Assess
  const schedules = Object.values(Resources).filter((r) => r.Type === 'AWS::Scheduler::Schedule');
  assert.equal(schedules.length, 2);
  const byCluster = new Map(schedules.map((r) => [JSON.parse(r.Properties.Target.Input).cluster, r.Properties]));
  assert.equal(byCluster.get('orders')!.ScheduleExpression, 'rate(5 minutes)');
  assert.equal(JSON.parse(byCluster.get('orders')!.Target.Input).policySet, 'strict');
  assert.equal(byCluster.get('billing-eu')!.ScheduleExpression, 'rate(1 minute)');
  assert.ok(schedules.every((r) => r.Properties.GroupName.Ref === 'ReaperScheduleGroup'));
  assert.equal(Object.values(Resources).filter((r) => r.Type === 'AWS::Scheduler::ScheduleGroup').length, 1);
  // The schedules' clusters are the ones the reaper is told about: REAPER_CLUSTERS is the same param.
  assert.match(yml, /^ {4}REAPER_CLUSTERS: \$\{param:clusters\}$/m);
});
