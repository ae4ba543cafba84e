/**
 * infra/alarms.yml against the metrics the reaper publishes (src/service/lambda/metrics.ts, parsed back from the
 * EMF documents it writes): one name, one meaning, so the audit log's metric filter names its metric apart from
 * every EMF metric; the alarms and the dashboard name only metrics that exist; and the dashboard shows the kills
 * a dry run planned, by rule and cluster, which is all there is to see during the dry-run week.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { METRICS_NAMESPACE, publishFailedPassMetrics, publishPassMetrics } from '../src/service/lambda/metrics.ts';
import type { RunReport } from '../src/pass/pass.ts';
import { captured } from './support/json-lines.ts';

interface Resource { Type: string; Properties: Record<string, any> }
const yaml = createRequire(import.meta.url)('js-yaml') as { load(text: string): unknown };
const { Resources } = yaml.load(readFileSync(new URL('../infra/alarms.yml', import.meta.url), 'utf8')) as { Resources: Record<string, Resource> };
const ofType = (type: string) => Object.entries(Resources).filter(([, r]) => r.Type === type);

/** Every EMF metric name and its dimension sets, from the documents of a pass that planned, killed, and of one that failed early. */
async function emfMetrics(): Promise<Map<string, string[][]>> {
  const kill = (rule: string, outcome: string) => ({ action: 'kill', rule, outcome, freed: { operations: 1, transactionAborted: false, cursors: 0 } });
  const report = {
    cluster: 'orders', durationMs: 5, error: null, coverage: null, audit: { failed: 0 }, decisions: [kill('r1', 'planned'), kill('r2', 'killed')],
    counts: { sessions: 3, sessionlessOps: 0, killed: 1, killedHoldingNothing: 0, failed: 0, planned: 1, skipped: 0 },
  } as unknown as RunReport;
  const { lines } = await captured(async () => {
    publishPassMetrics(report);
    publishFailedPassMetrics('orders', 7);
  });
  const names = new Map<string, string[][]>();
  for (const directive of lines.filter((l) => l._aws?.CloudWatchMetrics).flatMap((l) => l._aws.CloudWatchMetrics)) {
    assert.equal(directive.Namespace, METRICS_NAMESPACE);
    for (const m of directive.Metrics) names.set(m.Name, [...(names.get(m.Name) ?? []), ...directive.Dimensions]);
  }
  return names;
}

/** The metric filters' metrics in the reaper's namespace. */
const filterMetrics = () => ofType('AWS::Logs::MetricFilter').flatMap(([, r]) => r.Properties.MetricTransformations)
  .filter((t: { MetricNamespace: string }) => t.MetricNamespace === METRICS_NAMESPACE).map((t: { MetricName: string }) => t.MetricName as string);

/** The dashboard's widgets, its body as CloudFormation's Fn::Sub hands it to CloudWatch. */
function widgets(): { properties: { title: string; metrics: unknown[][] } }[] {
  const body = ofType('AWS::CloudWatch::Dashboard').map(([, r]) => r.Properties.DashboardBody['Fn::Sub'] as string);
  assert.equal(body.length, 1);
  return JSON.parse(body[0]!.replaceAll('${AWS::Region}', 'us-east-1')).widgets;
}

/** The metrics a dashboard widget names: [name, the dimensions of its SEARCH schema or its metric array]. */
function widgetMetrics(widget: { properties: { metrics: unknown[][] } }): [string, string[]][] {
  return widget.properties.metrics.map((m) => {
    const expression = (m[0] as { expression?: string }).expression;
    if (expression === undefined) {
      assert.equal(m[0], METRICS_NAMESPACE);
      return [m[1] as string, (m.slice(2) as string[]).filter((_, i) => i % 2 === 0)];
    }
    const search = /^SEARCH\('\{(\w+),([\w,]+)\} MetricName="(\w+)"/.exec(expression);
    assert.ok(search, expression);
    assert.equal(search[1], METRICS_NAMESPACE);
    return [search[3]!, search[2]!.split(',')];
  });
}

test('the audit log\'s metric filter names its metric apart from every EMF metric, and the kill-spike alarm watches it', async () => {
  // Prepare
  const emf = await emfMetrics();
  const filtered = filterMetrics();
  // Assess
  assert.deepEqual(filtered, ['KilledDecisions']);
  for (const name of filtered) assert.ok(!emf.has(name), `${name} is both a metric filter's metric and an EMF metric`);
  const [, spike] = ofType('AWS::CloudWatch::Alarm').find(([id]) => id === 'KillSpikeAlarm')!;
  assert.deepEqual([spike.Properties.Namespace, spike.Properties.MetricName, spike.Properties.Dimensions], [METRICS_NAMESPACE, 'KilledDecisions', undefined]);
});

test('every alarm and dashboard widget on the reaper\'s namespace names a metric that is published, with its dimensions', async () => {
  const emf = await emfMetrics();
  const filtered = new Set(filterMetrics());
  const exists = (name: string, dims: string[]) => (dims.length === 0 && filtered.has(name))
    || (emf.get(name) ?? []).some((set) => [...set].sort().join() === [...dims].sort().join());
  for (const [id, alarm] of ofType('AWS::CloudWatch::Alarm').filter(([, r]) => r.Properties.Namespace === METRICS_NAMESPACE)) {
    const dims = (alarm.Properties.Dimensions ?? []).map((d: { Name: string }) => d.Name);
    assert.ok(exists(alarm.Properties.MetricName, dims), `${id}: ${alarm.Properties.MetricName} {${dims}}`);
  }
  for (const widget of widgets()) {
    for (const [name, dims] of widgetMetrics(widget)) assert.ok(exists(name, dims), `widget "${widget.properties.title}": ${name} {${dims}}`);
  }
});

test('the dashboard shows the planned kills by rule and cluster (a dry run plans, it kills nothing)', () => {
  const planned = widgets().filter((w) => w.properties.metrics.some((m) => {
    const expression = (m[0] as { expression?: string }).expression ?? '';
    return expression.includes('MetricName="Decisions"') && expression.includes('outcome="planned"');
  }));
  assert.equal(planned.length, 1);
  assert.deepEqual(widgetMetrics(planned[0]!).map(([name, dims]) => [name, [...dims].sort()]), [['Decisions', ['cluster', 'outcome', 'rule', 'service']]]);
  assert.match(planned[0]!.properties.title, /planned/i);
});
