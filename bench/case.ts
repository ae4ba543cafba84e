/**
 * One benchmark case in a fresh process, so its peak RSS is its own: a reaping pass ("reaper", the product)
 * or the straightforward pass ("baseline") against a seeded stand-in, auditing to the local PutEvents
 * responder. Prints one JSON line with the measurements.
 *
 *   node --import tsx bench/case.ts '{"impl":"reaper","mode":"kill","uri":"...","thresholds":{...}}'
 *
 * The baseline is what a first implementation would do: json-rules-engine `engine.run` awaited per session,
 * one killSessions call per session, one PutEvents call per event. Same inventory, same policy, same gates.
 */
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { MongoAdapter } from '../src/adapters/mongodb/adapter.ts';
import { createEventBridgeClient, EventBridgeAuditSink } from '../src/adapters/eventbridge.ts';
import { decisionEvent, runSummaryEvent, emptyCounts, sessionRefFromFacts, operationRefFromFacts, type AuditContext } from '../src/pass/audit/builder.ts';
import type { AuditEvent } from '../src/pass/audit/events.ts';
import { takeInventory } from '../src/pass/inventory.ts';
import { runPass, type StageName } from '../src/pass/pass.ts';
import { planKills } from '../src/pass/plan.ts';
import { PassSightings } from '../src/pass/sightings.ts';
import { evaluateWithEngine } from '../src/pass/policy/engine.ts';
import { loadPolicySet } from '../src/pass/policy/load.ts';
import type { PolicySet } from '../src/pass/policy/types.ts';

interface CaseInput {
  /** "reaper-no-recheck": the reaper with the re-check before each kill batch off, to measure its cost. */
  impl: 'reaper' | 'reaper-no-recheck' | 'baseline';
  mode: 'dry-run' | 'kill';
  uri: string;
  thresholds: Record<string, number>;
  bus: string;
  policiesDir: string;
  /** Sessions per killSessions call; default 10,000. */
  batchSize?: number;
}

export interface CaseResult {
  impl: CaseInput['impl'];
  mode: CaseInput['mode'];
  sessions: number;
  kills: number;
  events: number;
  stagesMs: Record<StageName, number>;
  totalMs: number;
  roundTrips: number;
  killSessionsCalls: number;
  /** Re-check round trips before the kill batches. */
  rechecks: number;
  putEventsCalls: number;
  peakRssMb: number;
  evaluationRate: number;
}

const silent = { error: (m: string) => process.stderr.write(`${m}\n`), warn: () => {} };

/**
 * The stand-in answers one command at a time: a $currentOp over 100,000 sessions (the inventory's, and each kill
 * batch's re-check) holds its event loop, and with it the driver's heartbeats, for longer than the default 30 s
 * connectTimeoutMS on a loaded machine, and the driver would then drop the connection mid-pass.
 */
const STANDIN_TIMEOUTS = { connectTimeoutMS: 600_000, socketTimeoutMS: 0 };

async function reaperCase(input: CaseInput, policy: PolicySet): Promise<CaseResult> {
  const mongo = await MongoAdapter.connect(input.uri, STANDIN_TIMEOUTS);
  const sink = new EventBridgeAuditSink({ client: createEventBridgeClient(), eventBusName: input.bus, logger: silent });
  const t0 = performance.now();
  const report = await runPass(mongo, policy, sink, {
    cluster: 'bench', trigger: { type: 'cli', name: 'bench' }, dryRun: input.mode === 'dry-run', maxKills: 10_000_000, maxKillShare: 1,
    batchSize: input.batchSize ?? 10_000, concurrency: 4, source: 'mongodb.session-reaper', recheck: input.impl !== 'reaper-no-recheck',
  });
  const totalMs = performance.now() - t0;
  await mongo.close();
  if (report.error) throw new Error(report.error);
  return {
    impl: input.impl, mode: input.mode, sessions: report.counts.sessions, kills: report.dryRun ? report.counts.planned : report.counts.killed,
    events: report.audit.events, stagesMs: report.stages, totalMs, roundTrips: report.roundTrips, killSessionsCalls: report.counts.killSessionsCalls, rechecks: report.rechecks,
    putEventsCalls: report.audit.putEventsCalls, peakRssMb: process.resourceUsage().maxRSS / 1024,
    evaluationRate: (report.counts.sessions + report.counts.sessionlessOps) / (report.stages.evaluate / 1000),
  };
}

async function baselineCase(input: CaseInput, policy: PolicySet): Promise<CaseResult> {
  const mongo = await MongoAdapter.connect(input.uri);
  const client: EventBridgeClient = createEventBridgeClient();
  const stages: Record<StageName, number> = { inventory: 0, evaluate: 0, plan: 0, sightings: 0, kill: 0, verify: 0, audit: 0 };
  const time = async <T>(s: StageName, fn: () => Promise<T> | T): Promise<T> => {
    const t = performance.now();
    try {
      return await fn();
    } finally {
      stages[s] += performance.now() - t;
    }
  };
  const dryRun = input.mode === 'dry-run';
  const t0 = performance.now();
  const self = await mongo.identity();
  const inventory = await time('inventory', () => takeInventory(mongo, self, Date.now()));
  const records = [...inventory.sessions, ...inventory.sessionlessOps];
  // One pass with no earlier ones: every candidate's first sighting, as the reaper's own pass counts it.
  const sightings = new PassSightings(null, Date.now());
  for (const r of records) sightings.apply(r);
  const decisions = await time('evaluate', () => evaluateWithEngine(records, policy));
  const plan = await time('plan', () => planKills(decisions, { dryRun, maxKills: 10_000_000, maxKillShare: 1, totalSessions: records.length, reaperSession: { id: self.sessionId, uid: self.uid } }));
  let killSessionsCalls = 0;
  if (!dryRun) {
    await time('kill', async () => {
      for (const k of plan.kills) {
        const f = k.decision.facts;
        if (k.kind === 'session') {
          killSessionsCalls++;
          await mongo.killSessions([{ id: f.sessionId, uid: f.uid }]);
        } else {
          await mongo.killOp(f.opid);
        }
      }
    });
  }
  const ctx: AuditContext = { source: 'mongodb.session-reaper', runId: 'baseline', cluster: 'bench', trigger: { type: 'cli', name: 'bench' }, dryRun, now: () => new Date() };
  const events: AuditEvent[] = plan.kills.map((k) => decisionEvent(ctx, {
    target: k.decision.facts.target, session: k.kind === 'session' ? sessionRefFromFacts(k.decision.facts) : null,
    operation: k.kind === 'operation' ? operationRefFromFacts(k.decision.facts) : null,
    rule: k.decision.rule, action: k.decision.action, reason: k.decision.reason, facts: k.decision.evidence, outcome: dryRun ? 'planned' : 'killed',
  }));
  events.push(runSummaryEvent(ctx, { startedAt: new Date(), reportOnly: false, reportOnlyReason: null, counts: emptyCounts(), stillRunning: [] }));
  let putEventsCalls = 0;
  await time('audit', async () => {
    for (const e of events) {
      putEventsCalls++;
      await client.send(new PutEventsCommand({ Entries: [{ Source: e.source, DetailType: e.detailType, Detail: JSON.stringify(e.detail), Time: e.time, EventBusName: input.bus }] }));
    }
  });
  const totalMs = performance.now() - t0;
  const roundTrips = mongo.roundTrips();
  await mongo.close();
  return {
    impl: 'baseline', mode: input.mode, sessions: inventory.sessions.length, kills: plan.kills.length, events: events.length, stagesMs: stages, totalMs,
    roundTrips, killSessionsCalls, rechecks: 0, putEventsCalls, peakRssMb: process.resourceUsage().maxRSS / 1024,
    evaluationRate: records.length / (stages.evaluate / 1000),
  };
}

const input = JSON.parse(process.argv[2]!) as CaseInput;
const policy = await loadPolicySet(input.policiesDir, { overrides: input.thresholds, env: {} });
const result = input.impl !== 'baseline' ? await reaperCase(input, policy) : await baselineCase(input, policy);
process.stdout.write(`${JSON.stringify(result)}\n`);
