// One EventBridge Scheduler schedule per cluster of the deployment, generated at package time from the same
// `clusters` param that becomes REAPER_CLUSTERS, so the schedules and the clusters the reaper knows cannot
// drift apart. A cluster's optional "scheduleRate" (rate(...) or cron(...)) overrides the `scheduleRate`
// param; its "policySet" (default "default") is the set its scheduled passes use. All schedules live in one
// schedule group. serverless.yml includes this file under `resources` (osls resolves a .cjs that exports a
// function by calling it).
'use strict';

/** CloudFormation logical ids are alphanumeric: the cluster name without other characters, plus a short hash. */
function logicalId(name) {
  let h = 0;
  for (const ch of name) h = (h * 31 + ch.codePointAt(0)) >>> 0;
  return `ReaperSchedule${name.replace(/[^A-Za-z0-9]/g, '')}${h.toString(36)}`;
}

/** Scheduler names: up to 64 of [0-9a-zA-Z-_.] ("CreateSchedule", EventBridge Scheduler API Reference). */
function scheduleName(name) {
  return `reap-${name}`.replace(/[^0-9A-Za-z_.-]/g, '-').slice(0, 64);
}

function schedulesFor(clusters, defaultRate, group) {
  const resources = {};
  /** Schedule name -> the cluster it was given to: two schedules of one group cannot share a name. */
  const named = new Map();
  for (const [name, spec] of Object.entries(clusters)) {
    const rate = spec && typeof spec.scheduleRate === 'string' ? spec.scheduleRate : defaultRate;
    if (!/^(rate|cron)\(.+\)$/.test(rate)) throw new Error(`cluster "${name}": scheduleRate must be rate(...) or cron(...), got "${rate}"`);
    const schedule = scheduleName(name);
    if (named.has(schedule)) {
      throw new Error(`clusters "${named.get(schedule)}" and "${name}" would get the same schedule name "${schedule}" (a schedule name is "reap-" and the cluster name, cut to 64 characters); shorten one of the cluster names in the clusters param so that the two differ within their first 59 characters`);
    }
    named.set(schedule, name);
    resources[logicalId(name)] = {
      Type: 'AWS::Scheduler::Schedule',
      Properties: {
        Name: schedule,
        GroupName: { Ref: group },
        Description: `Scheduled reaping passes of cluster ${name}`,
        ScheduleExpression: rate,
        FlexibleTimeWindow: { Mode: 'OFF' },
        Target: {
          Arn: { 'Fn::GetAtt': ['ReaperLambdaFunction', 'Arn'] },
          RoleArn: { 'Fn::GetAtt': ['SchedulerRole', 'Arn'] },
          // Scheduler replaces the <aws.scheduler.*> context attributes when it invokes the target, so the
          // audit trail names the schedule and the invocation.
          Input: JSON.stringify({
            kind: 'schedule', cluster: name, policySet: (spec && spec.policySet) || 'default',
            scheduleArn: '<aws.scheduler.schedule-arn>', executionId: '<aws.scheduler.execution-id>',
          }),
          // A missed pass is not retried: the next one comes within the rate.
          RetryPolicy: { MaximumRetryAttempts: 0 },
        },
      },
    };
  }
  return resources;
}

module.exports = async ({ resolveVariable }) => {
  const raw = await resolveVariable('param:clusters');
  let clusters;
  try {
    clusters = typeof raw === 'string' ? JSON.parse(raw) : raw;
  } catch (e) {
    throw new Error(`the clusters param is not JSON (${e.message}); see REAPER_CLUSTERS in docs/deploy.md`);
  }
  const rate = await resolveVariable('param:scheduleRate');
  return {
    Resources: {
      ReaperScheduleGroup: { Type: 'AWS::Scheduler::ScheduleGroup', Properties: { Name: { 'Fn::Sub': '${AWS::StackName}' } } },
      ...schedulesFor(clusters, rate, 'ReaperScheduleGroup'),
    },
  };
};
module.exports.schedulesFor = schedulesFor;
