/**
 * What each trigger asks for, decided from its payload alone: pure functions from an event to "run
 * this pass" or "ignore, because", or an InvalidTriggerError naming the field. The Lambda handlers
 * in functions/ are thin shells around these, so every rule about payloads is unit-tested here
 * without a server.
 *
 * Two guards hold for every EventBridge-delivered event, before anything else is looked at:
 *  - an event whose `source` is the reaper's own audit Source never starts a pass (a rule that
 *    matched too broadly would otherwise loop: pass -> audit event -> pass ...);
 *  - an event carrying `replay-name` comes from an archive replay (EventBridge adds that field to
 *    replayed events, "Replaying archived events", Amazon EventBridge User Guide) and never starts
 *    a pass: replaying the audit history must not re-run the kills it describes.
 */
import type { TriggerInfo } from '../pass/audit/events.ts';
import type { Deployment } from './deployment.ts';
import { pickCluster } from './deployment.ts';
import { InvalidTriggerError } from '../util/errors.ts';
import { isObject, validated, type CompiledValidator } from '../util/validate.ts';
// The payloads' shapes are schemas/triggers.json, compiled ahead of time by
// scripts/generate-validators.ts (`npm run generate`); the rules here are about what they ask for.
import { validateAlarmStateChange } from './generated/validate-alarm-state-change.js';
import { validateAtlasAlert } from './generated/validate-atlas-alert.js';
import { validateAtlasAlertHandoff } from './generated/validate-atlas-alert-handoff.js';
import { validateScheduledEvent } from './generated/validate-scheduled-event.js';
import { validateSchedulerInput } from './generated/validate-scheduler-input.js';

export interface PassPlan {
  cluster: string;
  /** Named policy set. */
  policySet: string;
  trigger: TriggerInfo;
  /** What the trigger asked; absent means the deployment's DRY_RUN. */
  dryRun?: boolean;
}

export type TriggerDecision = { run: PassPlan } | { ignore: string };

type Json = Record<string, unknown>;

/** The payload as a T when its schema accepts it; else an InvalidTriggerError naming every problem and what to do. */
function checked<T>(validate: CompiledValidator, payload: unknown, name: string, whatToDo: string): T {
  return validated<T>(validate, payload, { name }, (problems) => new InvalidTriggerError(`${problems}; ${whatToDo}`));
}

/** The replay / self-loop guards. Returns why the event is ignored, or null. */
export function guardEvent(event: unknown, auditSource: string): string | null {
  if (!isObject(event)) return null;
  if (event['replay-name'] !== undefined) {
    return `event ${String(event.id ?? '?')} comes from archive replay "${String(event['replay-name'])}": replays never start a pass`;
  }
  if (event.source === auditSource) {
    return `event ${String(event.id ?? '?')} has the reaper's own audit source "${auditSource}": audit events never start a pass (check the rule that routed it here)`;
  }
  return null;
}

function knownPolicySet(deployment: Deployment, name: string, where: string): string {
  if (!deployment.policySets.has(name)) {
    throw new InvalidTriggerError(`${where} names policy set "${name}", which does not exist; known sets: ${[...deployment.policySets.keys()].join(', ')}`);
  }
  return name;
}

// ---- scheduled ----

export const SCHEDULE_INPUT_EXAMPLE = '{"kind":"schedule","cluster":"orders","policySet":"default"}';

/** schemas/triggers.json#/$defs/schedulerInput. */
interface SchedulerInput {
  kind?: 'schedule';
  cluster?: string;
  policySet?: string;
  dryRun?: boolean;
  scheduleArn?: string;
  executionId?: string;
}

/** schemas/triggers.json#/$defs/scheduledEvent, the fields read. */
interface ScheduledEvent {
  id?: string;
  resources?: string[];
}

/**
 * A scheduled pass: an EventBridge Scheduler input ({"kind"?: "schedule", "cluster"?, "policySet"?,
 * "dryRun"?, "scheduleArn"?, "executionId"?}) or a classic EventBridge rule's "Scheduled Event" (only
 * for a one-cluster deployment: it carries no input, so it cannot name a cluster). serverless.yml
 * fills scheduleArn and executionId with Scheduler's context attributes <aws.scheduler.schedule-arn>
 * and <aws.scheduler.execution-id> ("Adding context attributes", EventBridge Scheduler User Guide),
 * so the audit trail names the schedule and the invocation.
 */
export function scheduleDecision(event: unknown, deployment: Deployment, auditSource: string): TriggerDecision {
  const guard = guardEvent(event, auditSource);
  if (guard) return { ignore: guard };
  if (isObject(event) && event['detail-type'] === 'Scheduled Event') {
    const scheduled = checked<ScheduledEvent>(validateScheduledEvent, event, 'the "Scheduled Event"', 'check the EventBridge rule that routed it here');
    const cluster = pickCluster(deployment, undefined, 'a "Scheduled Event" (it carries no input; use EventBridge Scheduler with an input naming the cluster)');
    const name = scheduled.resources?.[0];
    return {
      run: {
        cluster: cluster.name, policySet: cluster.policySet,
        trigger: { type: 'schedule', ...(name !== undefined ? { name } : {}), ...(scheduled.id !== undefined ? { id: scheduled.id } : {}) },
      },
    };
  }
  const where = 'the scheduler input';
  const input = checked<SchedulerInput>(validateSchedulerInput, event, where,
    `send an EventBridge "Scheduled Event" or an object from EventBridge Scheduler such as ${SCHEDULE_INPUT_EXAMPLE}`);
  const cluster = pickCluster(deployment, input.cluster?.trim(), where);
  const policySet = input.policySet !== undefined ? knownPolicySet(deployment, input.policySet.trim(), where) : cluster.policySet;
  const name = input.scheduleArn?.trim();
  const id = input.executionId?.trim();
  return {
    run: {
      cluster: cluster.name, policySet, trigger: { type: 'schedule', ...(name ? { name } : {}), ...(id ? { id } : {}) },
      ...(input.dryRun !== undefined ? { dryRun: input.dryRun } : {}),
    },
  };
}

// ---- CloudWatch alarm ----

/** schemas/triggers.json#/$defs/alarmStateChange, the fields read. */
interface AlarmStateChange {
  id?: string;
  detail: { alarmName: string; state: { value: 'ALARM' | 'OK' | 'INSUFFICIENT_DATA' } };
}

/**
 * A CloudWatch "Alarm State Change" event, as EventBridge delivers it ("Alarm events and
 * EventBridge", Amazon CloudWatch User Guide): source aws.cloudwatch, detail.alarmName,
 * detail.state.value. ALARM runs the policy set mapped to the alarm (REAPER_ALARMS); OK and
 * INSUFFICIENT_DATA do nothing.
 */
export function alarmDecision(event: unknown, deployment: Deployment, auditSource: string): TriggerDecision {
  const guard = guardEvent(event, auditSource);
  if (guard) return { ignore: guard };
  const alarm = checked<AlarmStateChange>(validateAlarmStateChange, event, 'the alarm event', 'check the EventBridge rule that routed it here');
  const { alarmName, state } = alarm.detail;
  if (state.value !== 'ALARM') return { ignore: `alarm "${alarmName}" went to ${state.value}: only ALARM starts a pass` };
  const route = deployment.alarms.get(alarmName);
  if (!route) {
    throw new InvalidTriggerError(`alarm "${alarmName}" is not mapped to a policy set; add it to REAPER_ALARMS (known alarms: ${[...deployment.alarms.keys()].join(', ') || 'none'}) or narrow the rule that routed it here`);
  }
  const cluster = pickCluster(deployment, route.cluster, `REAPER_ALARMS.${alarmName}`);
  return {
    run: {
      cluster: cluster.name, policySet: route.policySet,
      trigger: { type: 'alarm', name: alarmName, ...(alarm.id !== undefined ? { id: alarm.id } : {}) },
    },
  };
}

// ---- Atlas alert ----

/** The fields of an Atlas alert (Atlas Administration API "Alerts" resource) the reaper reads. */
export interface AtlasAlert {
  id: string;
  eventTypeName: string;
  metricName?: string;
  status: string;
  /** When Atlas last changed the alert (ISO 8601): with id and status, what tells a new notification from a copy. */
  updated?: string;
  clusterName?: string;
  groupId?: string;
  replicaSetName?: string;
  hostnameAndPort?: string;
}

/**
 * Largest webhook body accepted, 256 KiB (our choice): an Atlas alert is a few KiB, and the
 * Lambda function URL request payload limit is 6 MB ("Lambda quotas", AWS Lambda Developer Guide);
 * anything near that is not an alert.
 */
export const ATLAS_MAX_BODY_BYTES = 262_144;

/** Validates an Atlas alert body (already signature-checked). */
export function parseAtlasAlert(body: string): AtlasAlert {
  let doc: unknown;
  try {
    doc = JSON.parse(body);
  } catch {
    throw new InvalidTriggerError('the webhook body is not JSON: Atlas sends its alert as a JSON document');
  }
  const raw = checked<Record<keyof AtlasAlert, string | null | undefined>>(validateAtlasAlert, doc, 'the Atlas alert',
    'Atlas sends an alert as a JSON object with "id", "eventTypeName" and "status"');
  const alert: AtlasAlert = { id: raw.id!, eventTypeName: raw.eventTypeName!, status: raw.status! };
  for (const f of ['metricName', 'updated', 'clusterName', 'groupId', 'replicaSetName', 'hostnameAndPort'] as const) {
    const v = raw[f];
    // Atlas sends null for a field that does not apply.
    if (typeof v === 'string') alert[f] = v;
  }
  return alert;
}

/**
 * An OPEN alert mapped in REAPER_ATLAS_ALERTS runs a pass ("EVENT_TYPE/METRIC" wins over
 * "EVENT_TYPE"); anything else is acknowledged and ignored. The cluster is the route's, else the
 * configured cluster whose atlasClusterName (and atlasGroupId, when set) match the alert.
 */
export function atlasDecision(alert: AtlasAlert, deployment: Deployment): TriggerDecision {
  const what = `Atlas alert ${alert.id} (${alert.eventTypeName}${alert.metricName ? `/${alert.metricName}` : ''})`;
  if (alert.status !== 'OPEN') return { ignore: `${what} has status ${alert.status}: only OPEN alerts start a pass` };
  const key = alert.metricName && deployment.atlasAlerts[`${alert.eventTypeName}/${alert.metricName}`] ? `${alert.eventTypeName}/${alert.metricName}` : alert.eventTypeName;
  const route = deployment.atlasAlerts[key];
  if (!route) return { ignore: `${what} is not mapped to a policy set in REAPER_ATLAS_ALERTS` };
  let cluster: string;
  if (route.cluster !== undefined) {
    cluster = route.cluster;
  } else {
    const matches = [...deployment.clusters.values()].filter((c) =>
      (alert.clusterName === undefined ? deployment.clusters.size === 1 : c.atlasClusterName === alert.clusterName)
      && (c.atlasGroupId === undefined || c.atlasGroupId === alert.groupId));
    if (matches.length !== 1) {
      return { ignore: `${what} is for Atlas cluster "${alert.clusterName ?? '?'}" in project ${alert.groupId ?? '?'}, which matches ${matches.length} configured clusters (set atlasClusterName / atlasGroupId in REAPER_CLUSTERS)` };
    }
    cluster = matches[0]!.name;
  }
  return { run: { cluster, policySet: route.policySet, trigger: { type: 'atlas-alert', name: key, id: alert.id } } };
}

// ---- hand-off from the webhook function to the reaper function ----

/** What the webhook function sends the reaper function (asynchronous Invoke). */
export interface AtlasHandoff {
  kind: 'atlas-alert';
  cluster: string;
  policySet: string;
  trigger: TriggerInfo;
}

export function handoffDecision(payload: Json, deployment: Deployment): TriggerDecision {
  const where = 'the atlas-alert hand-off';
  const handoff = checked<AtlasHandoff>(validateAtlasAlertHandoff, payload, where,
    'the webhook function sends {"kind": "atlas-alert", "cluster", "policySet", "trigger"}: deploy both functions from the same version');
  const cluster = pickCluster(deployment, handoff.cluster, where);
  const policySet = knownPolicySet(deployment, handoff.policySet, where);
  return { run: { cluster: cluster.name, policySet, trigger: { type: 'atlas-alert', name: handoff.trigger.name!, id: handoff.trigger.id! } } };
}

// ---- the reaper function's dispatch ----

export type ReaperEvent =
  | { kind: 'schedule'; event: unknown }
  | { kind: 'alarm'; event: unknown }
  | { kind: 'manual'; payload: Json }
  | { kind: 'atlas-alert'; payload: Json }
  | { kind: 'ignore'; reason: string };

export const REAPER_EVENT_KINDS = ['schedule', 'manual', 'atlas-alert'] as const;

/**
 * Which trigger an event to the reaper function is. EventBridge envelopes are told apart by
 * source and detail-type; direct payloads must say what they are with "kind", so that a manual
 * request missing a field can never be taken for a schedule and run a real pass.
 */
export function classify(event: unknown, auditSource: string): ReaperEvent {
  const guard = guardEvent(event, auditSource);
  if (guard) return { kind: 'ignore', reason: guard };
  if (!isObject(event)) throw new InvalidTriggerError(`the reaper function takes a JSON object: an EventBridge event, or a payload with "kind" one of ${REAPER_EVENT_KINDS.join(', ')}`);
  if (typeof event['detail-type'] === 'string' && typeof event.source === 'string') {
    if (event['detail-type'] === 'Scheduled Event') return { kind: 'schedule', event };
    if (event['detail-type'] === 'CloudWatch Alarm State Change') return { kind: 'alarm', event };
    throw new InvalidTriggerError(`the reaper function does not handle "${event['detail-type']}" events from ${event.source}; it handles "Scheduled Event" and "CloudWatch Alarm State Change"`);
  }
  switch (event.kind) {
    case 'schedule': return { kind: 'schedule', event };
    case 'manual': return { kind: 'manual', payload: event };
    case 'atlas-alert': return { kind: 'atlas-alert', payload: event };
    default:
      throw new InvalidTriggerError(`the payload's "kind" must be one of ${REAPER_EVENT_KINDS.join(', ')}, got ${JSON.stringify(event.kind)}; e.g. ${SCHEDULE_INPUT_EXAMPLE}`);
  }
}
