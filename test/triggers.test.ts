/**
 * What each trigger's payload asks for, decided without a server: the real event fixtures of
 * test/events/, and every way a payload can be wrong, refused with a message naming the field.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolveDeployment, SHIPPED_POLICIES_DIR, type Deployment } from '../src/service/deployment.ts';
import { InvalidTriggerError } from '../src/util/errors.ts';
import { parseAlarms, parseAtlasAlerts, parseClusters } from '../src/service/deployment.ts';
import { alarmDecision, atlasDecision, classify, guardEvent, handoffDecision, parseAtlasAlert, scheduleDecision, type TriggerDecision } from '../src/service/triggers.ts';

const fixture = (name: string) => JSON.parse(readFileSync(new URL(`./events/${name}`, import.meta.url), 'utf8'));
const SOURCE = 'mongodb.session-reaper';

const TWO_CLUSTERS = '{"orders":{"uriEnv":"ORDERS_URI"},"billing":{"uriEnv":"BILLING_URI","policySet":"strict","atlasClusterName":"billing-prod","atlasGroupId":"g1"}}';

function deployment(clusters = TWO_CLUSTERS): Deployment {
  const several = clusters === TWO_CLUSTERS;
  return resolveDeployment({
    uri: '', secretArn: '', cluster: 'x', policiesDir: SHIPPED_POLICIES_DIR,
    clusters: parseClusters(clusters, 'REAPER_CLUSTERS'), policySets: null,
    alarms: parseAlarms('{"orders-tickets-exhausted":{"cluster":"orders","policySet":"strict"}}', 'REAPER_ALARMS'),
    atlasAlerts: parseAtlasAlerts(several
      ? '{"OUTSIDE_METRIC_THRESHOLD/CONNECTIONS":"strict","OUTSIDE_METRIC_THRESHOLD":"default","HOST_DOWN":{"policySet":"default","cluster":"billing"}}'
      : '{"OUTSIDE_METRIC_THRESHOLD":"default"}', 'REAPER_ATLAS_ALERTS'),
  }, { ORDERS_URI: 'mongodb://orders:27017', BILLING_URI: 'mongodb://billing:27017' });
}

function run(d: TriggerDecision) {
  assert.ok('run' in d, `expected a pass, got ${JSON.stringify(d)}`);
  return d.run;
}

const invalid = (pattern: RegExp) => (e: unknown) => e instanceof InvalidTriggerError && pattern.test((e as Error).message);

describe('guards: audit events and archive replays never start a pass', () => {
  test('an event with the audit source is ignored by every EventBridge trigger', () => {
    // Prepare
    const ownEvent = { ...fixture('audit-event-replayed.json') };
    delete ownEvent['replay-name'];
    // Act + Assess
    for (const decide of [scheduleDecision, alarmDecision]) {
      const d = decide(ownEvent, deployment(), SOURCE);
      assert.ok('ignore' in d && /audit source/.test(d.ignore));
    }
    assert.equal(classify(ownEvent, SOURCE).kind, 'ignore');
  });

  test('a replayed event is ignored, whatever it looks like', () => {
    // Prepare: a replayed alarm event, which would otherwise start a pass.
    const replayedAlarm = { ...fixture('alarm-state-change-alarm.json'), 'replay-name': 'nightly' };
    // Act + Assess
    const d = alarmDecision(replayedAlarm, deployment(), SOURCE);
    assert.ok('ignore' in d && /archive replay "nightly"/.test(d.ignore));
    assert.match(guardEvent(fixture('audit-event-replayed.json'), SOURCE)!, /replay/);
    assert.equal(classify({ kind: 'manual', 'replay-name': 'x' }, SOURCE).kind, 'ignore');
  });

  test('a configurable audit source is honoured', () => {
    assert.equal(guardEvent({ source: 'acme.reaper' }, 'acme.reaper') !== null, true);
    assert.equal(guardEvent({ source: SOURCE }, 'acme.reaper'), null);
  });
});

describe('scheduled', () => {
  test('the Scheduler input names the cluster and the policy set', () => {
    const r = run(scheduleDecision(fixture('scheduler-input.json'), deployment(), SOURCE));
    assert.deepEqual(r, { cluster: 'orders', policySet: 'default', trigger: { type: 'schedule', name: fixture('scheduler-input.json').scheduleArn, id: 'd32c5kddcf5bb8c3' } });
  });

  test('the policy set defaults to the cluster\'s own', () => {
    assert.equal(run(scheduleDecision({ cluster: 'billing' }, deployment(), SOURCE)).policySet, 'strict');
  });

  test('a Scheduled Event works for one cluster and is refused for several', () => {
    const one = deployment('{"orders":{"uriEnv":"ORDERS_URI"}}');
    const r = run(scheduleDecision(fixture('scheduled-event.json'), one, SOURCE));
    assert.equal(r.cluster, 'orders');
    assert.equal(r.trigger.name, fixture('scheduled-event.json').resources[0]);
    assert.throws(() => scheduleDecision(fixture('scheduled-event.json'), deployment(), SOURCE), invalid(/names no cluster and the deployment has 2/));
  });

  test('bad inputs are refused, naming the field', () => {
    const d = deployment();
    assert.throws(() => scheduleDecision({ cluster: 'nope' }, d, SOURCE), invalid(/cluster "nope", which is not configured; known clusters: orders, billing/));
    assert.throws(() => scheduleDecision({ cluster: 'orders', policySet: 'lenient' }, d, SOURCE), invalid(/policy set "lenient", which does not exist/));
    assert.throws(() => scheduleDecision({ cluster: 'orders', dryRun: 'yes' }, d, SOURCE), invalid(/^the scheduler input's "dryRun" must be true or false, got "yes"; send .* such as \{"kind":"schedule"/));
    assert.throws(() => scheduleDecision({ cluster: 'orders', policy: 'x' }, d, SOURCE), invalid(/the scheduler input has unknown field "policy"; allowed: kind, cluster, policySet, dryRun, scheduleArn, executionId/));
    assert.throws(() => scheduleDecision({ kind: 'manual', cluster: ' ' }, d, SOURCE), invalid(/"kind" must be "schedule", got "manual"; the scheduler input's "cluster" must be a non-empty string, got " "/));
    assert.throws(() => scheduleDecision({ ...fixture('scheduled-event.json'), source: 'my.app' }, d, SOURCE), invalid(/the "Scheduled Event"'s "source" must be one of aws.events, aws.scheduler, got "my.app"/));
    assert.throws(() => scheduleDecision([], d, SOURCE), invalid(/the scheduler input must be an object, got \[\]; send an EventBridge "Scheduled Event" or an object/));
  });
});

describe('CloudWatch alarm', () => {
  test('ALARM runs the policy set mapped to the alarm, on its cluster', () => {
    const r = run(alarmDecision(fixture('alarm-state-change-alarm.json'), deployment(), SOURCE));
    assert.deepEqual(r, { cluster: 'orders', policySet: 'strict', trigger: { type: 'alarm', name: 'orders-tickets-exhausted', id: fixture('alarm-state-change-alarm.json').id } });
  });

  test('OK and INSUFFICIENT_DATA do nothing', () => {
    for (const name of ['alarm-state-change-ok.json', 'alarm-state-change-insufficient-data.json']) {
      const d = alarmDecision(fixture(name), deployment(), SOURCE);
      assert.ok('ignore' in d && /only ALARM starts a pass/.test(d.ignore), name);
    }
  });

  test('an unmapped alarm, a wrong source or a malformed detail is refused', () => {
    const e = fixture('alarm-state-change-alarm.json');
    assert.throws(() => alarmDecision({ ...e, detail: { ...e.detail, alarmName: 'other' } }, deployment(), SOURCE), invalid(/alarm "other" is not mapped to a policy set; add it to REAPER_ALARMS/));
    assert.throws(() => alarmDecision({ ...e, source: 'evil.app' }, deployment(), SOURCE), invalid(/the alarm event's "source" must be "aws.cloudwatch", got "evil.app"; check the EventBridge rule/));
    assert.throws(() => alarmDecision({ ...e, detail: { ...e.detail, state: { value: 'PANIC' } } }, deployment(), SOURCE), invalid(/the alarm event's "detail.state.value" must be one of ALARM, OK, INSUFFICIENT_DATA, got "PANIC"/));
    assert.throws(() => alarmDecision({ ...e, detail: { ...e.detail, alarmName: '' } }, deployment(), SOURCE), invalid(/"detail.alarmName" must be a non-empty string, got ""/));
    assert.throws(() => alarmDecision(fixture('scheduled-event.json'), deployment(), SOURCE), invalid(/the alarm event's "detail-type" must be "CloudWatch Alarm State Change", got "Scheduled Event"/));
  });
});

describe('Atlas alert', () => {
  const alert = () => parseAtlasAlert(readFileSync(new URL('./events/atlas-alert.json', import.meta.url), 'utf8'));

  test('an OPEN alert maps by eventTypeName/metricName first, to the cluster with its Atlas name', () => {
    const r = run(atlasDecision(alert(), deployment()));
    assert.deepEqual(r, { cluster: 'orders', policySet: 'strict', trigger: { type: 'atlas-alert', name: 'OUTSIDE_METRIC_THRESHOLD/CONNECTIONS', id: '6749e1f4a1b2c3d4e5f60718' } });
    assert.equal(run(atlasDecision({ ...alert(), metricName: 'OPCOUNTER_QUERY' }, deployment())).policySet, 'default', 'falls back to the eventTypeName key');
  });

  test('atlasGroupId must match when configured; a route may name the cluster', () => {
    const billing = { ...alert(), clusterName: 'billing-prod' };
    assert.ok('ignore' in atlasDecision({ ...billing, groupId: 'other' }, deployment()));
    assert.equal(run(atlasDecision({ ...billing, groupId: 'g1' }, deployment())).cluster, 'billing');
    assert.equal(run(atlasDecision({ ...alert(), eventTypeName: 'HOST_DOWN', metricName: undefined as never }, deployment())).cluster, 'billing');
  });

  test('closed, unmapped and unknown-cluster alerts are acknowledged and start nothing', () => {
    for (const a of [{ ...alert(), status: 'CLOSED' }, { ...alert(), eventTypeName: 'USER_ROLES_CHANGED_AUDIT' }, { ...alert(), clusterName: 'elsewhere' }]) {
      assert.ok('ignore' in atlasDecision(a, deployment()), JSON.stringify(a.status + a.eventTypeName + a.clusterName));
    }
  });

  test('a body that is not an alert is refused', () => {
    assert.throws(() => parseAtlasAlert('not json'), invalid(/not JSON/));
    assert.throws(() => parseAtlasAlert('[]'), invalid(/the Atlas alert must be an object, got \[\]/));
    assert.throws(() => parseAtlasAlert('{"id":"a","status":"OPEN"}'), invalid(/the Atlas alert's "eventTypeName" is missing; Atlas sends/));
    assert.throws(() => parseAtlasAlert('{"id":"a","status":"OPEN","eventTypeName":7}'), invalid(/the Atlas alert's "eventTypeName" must be a non-empty string, got 7/));
    assert.throws(() => parseAtlasAlert('{"id":"a","status":"OPEN","eventTypeName":"E","clusterName":""}'), invalid(/"clusterName" must be a non-empty string or null, got ""/));
  });

  test('optional alert fields may be null, as Atlas sends them', () => {
    const a = parseAtlasAlert('{"id":"a","status":"OPEN","eventTypeName":"HOST_DOWN","metricName":null,"clusterName":"orders"}');
    assert.deepEqual(a, { id: 'a', status: 'OPEN', eventTypeName: 'HOST_DOWN', clusterName: 'orders' });
  });

  test('the webhook\'s hand-off is checked again by the reaper function', () => {
    const ok = { kind: 'atlas-alert', cluster: 'orders', policySet: 'strict', trigger: { type: 'atlas-alert', name: 'K', id: 'A' } };
    assert.deepEqual(run(handoffDecision(ok, deployment())), { cluster: 'orders', policySet: 'strict', trigger: { type: 'atlas-alert', name: 'K', id: 'A' } });
    assert.throws(() => handoffDecision({ ...ok, cluster: undefined }, deployment()), invalid(/the atlas-alert hand-off's "cluster" is missing; .*deploy both functions from the same version/));
    assert.throws(() => handoffDecision({ ...ok, policySet: 'nope' }, deployment()), invalid(/policy set "nope", which does not exist/));
    assert.throws(() => handoffDecision({ ...ok, trigger: { type: 'manual' } }, deployment()), invalid(/"trigger.name" is missing; .*"trigger.type" must be "atlas-alert", got "manual"/));
  });
});

describe('the reaper function\'s dispatch', () => {
  test('EventBridge envelopes by detail-type, direct payloads by kind', () => {
    assert.equal(classify(fixture('scheduled-event.json'), SOURCE).kind, 'schedule');
    assert.equal(classify(fixture('alarm-state-change-ok.json'), SOURCE).kind, 'alarm');
    assert.equal(classify(fixture('scheduler-input.json'), SOURCE).kind, 'schedule');
    assert.equal(classify(fixture('manual-kill-sessions.json'), SOURCE).kind, 'manual');
    assert.equal(classify({ kind: 'atlas-alert' }, SOURCE).kind, 'atlas-alert');
  });

  test('a payload without kind is refused rather than guessed (a broken manual request must not run a schedule)', () => {
    const { kind: _kind, ...noKind } = fixture('manual-kill-sessions.json');
    assert.throws(() => classify(noKind, SOURCE), invalid(/"kind" must be one of schedule, manual, atlas-alert/));
    assert.throws(() => classify({ ...fixture('scheduled-event.json'), 'detail-type': 'EC2 Instance State-change Notification', source: 'aws.ec2' }, SOURCE), invalid(/does not handle "EC2 Instance State-change Notification"/));
    assert.throws(() => classify('run', SOURCE), invalid(/takes a JSON object/));
  });
});
