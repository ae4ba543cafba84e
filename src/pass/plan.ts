/**
 * Turns decisions into a kill plan, pure. The policy says what deserves to die; the plan applies
 * the gates that hold whatever a policy says: never the reaper's own session, never a kill without
 * the identifiers the kill command needs, never a session that holds nothing (unless the rule says so), and never more than the blast-radius caps allow. Going
 * over a cap turns the whole pass report-only rather than killing the "first N": a pass that wants
 * to kill that much more likely sees a bad policy or a bad inventory than a bad cluster, and an
 * operator should look before anything is killed.
 */
import { ConfigError } from '../util/errors.ts';
import type { Decision } from './policy/evaluate.ts';
import { recordKey } from './facts.ts';
// A session id and uid as the audit event names them (schemas/audit-event.v1.json $defs uuid and
// uid): a kill the audit could not describe is not carried out.
import { validateUid } from './audit/generated/validate-uid.js';
import { validateUuid } from './audit/generated/validate-uuid.js';

export interface PlanOptions {
  dryRun: boolean;
  maxKills: number;
  /** Largest share (0..1) of all sessions one pass may kill. */
  maxKillShare: number;
  /** Sessions (and sessionless operations) in the inventory: the denominator of the share. */
  totalSessions: number;
  reaperSession?: { id: string; uid: string } | null;
}

export interface PlannedKill {
  decision: Decision;
  /** "session": killSessions with {id, uid}; "operation": killOp with the opid. */
  kind: 'session' | 'operation';
}

export interface SkippedDecision {
  decision: Decision;
  why: string;
}

export interface Plan {
  /** In victim order: those holding the most first. */
  kills: PlannedKill[];
  skipped: SkippedDecision[];
  protectedOrReported: Decision[];
  reportOnly: boolean;
  reportOnlyReason: string | null;
  /** The kill stage lists but does not send the kills. */
  dryRun: boolean;
}

/** "123", or "shardName:123" through mongos. */
const OPID = /^([^\s:]+:)?-?\d+$/;

export function planKills(decisions: readonly Decision[], opts: PlanOptions): Plan {
  checkOptions(opts);
  const protectedOrReported: Decision[] = [];
  const skipped: SkippedDecision[] = [];
  const candidates: PlannedKill[] = [];
  const planned = new Set<string>();

  for (const decision of decisions) {
    if (decision.action !== 'kill') {
      protectedOrReported.push(decision);
      continue;
    }
    const kind = decision.facts.target === 'operation' ? 'operation' : 'session';
    const why = gateWhy(decision, kind, opts);
    if (why) {
      skipped.push({ decision, why });
      continue;
    }
    // A session listed twice (e.g. seen through two routers) is killed once.
    const key = killKey(decision, kind);
    if (planned.has(key)) {
      skipped.push({ decision, why: `already planned: the same ${kind} appears twice in the inventory` });
      continue;
    }
    planned.add(key);
    candidates.push({ decision, kind });
  }
  candidates.sort(byWhatTheyHold);

  const reportOnlyReason = capExceeded(candidates.length, opts);
  if (reportOnlyReason) {
    for (const kill of candidates) skipped.push({ decision: kill.decision, why: reportOnlyReason });
    return { kills: [], skipped, protectedOrReported, reportOnly: true, reportOnlyReason, dryRun: opts.dryRun };
  }
  return { kills: candidates, skipped, protectedOrReported, reportOnly: false, reportOnlyReason: null, dryRun: opts.dryRun };
}

function checkOptions(opts: PlanOptions): void {
  if (!Number.isInteger(opts.maxKills) || opts.maxKills < 0) {
    throw new ConfigError(`--max-kills must be a whole number of 0 or more, got ${opts.maxKills}`);
  }
  if (!(opts.maxKillShare >= 0 && opts.maxKillShare <= 1)) {
    throw new ConfigError(`--max-kill-share must be a fraction between 0 and 1 (0.1 = 10% of sessions), got ${opts.maxKillShare}`);
  }
  if (!Number.isInteger(opts.totalSessions) || opts.totalSessions < 0) {
    throw new ConfigError(`totalSessions must be a whole number of 0 or more, got ${opts.totalSessions}`);
  }
}

/** Why a kill decision cannot be carried out at all, or null when it can. */
function gateWhy(decision: Decision, kind: PlannedKill['kind'], opts: PlanOptions): string | null {
  const { sessionId, uid, opid, isReaperSession } = decision.facts;
  const self = opts.reaperSession;
  if (isReaperSession || (self && sessionId !== '' && sessionId === self.id && uid === self.uid)) {
    return `is the reaper's own session (id ${sessionId || '?'}); rule "${decision.rule}" matched but the reaper never kills the session it works in`;
  }
  if (kind === 'session') {
    // "Killed" must mean something was freed: a session with no running operation, no open transaction and
    // no cursor loses nothing to killSessions, so only a rule that names holdsNothing may target it.
    if (decision.facts.holdsNothing && !Object.prototype.hasOwnProperty.call(decision.evidence, 'holdsNothing')) {
      return `holds nothing (no running operation, open transaction or cursor): killing it would free nothing; rule "${decision.rule}" does not name the holdsNothing fact, which a rule must do to target such sessions`;
    }
    if (!validateUuid(sessionId)) return `cannot kill a session without a valid session id (got ${JSON.stringify(sessionId)}): killSessions needs {id, uid}`;
    if (!validateUid(uid)) return `cannot kill session ${sessionId} without a valid uid (got ${JSON.stringify(uid)}): killSessions needs {id, uid}`;
  } else if (!OPID.test(opid)) {
    return `cannot kill a sessionless operation without a valid opid (got ${JSON.stringify(opid)}): killOp needs it`;
  }
  return null;
}

/** A session's pair (its id in any case), or an operation's record key: its opid on its member (facts.ts recordKey). */
function killKey(decision: Decision, kind: PlannedKill['kind']): string {
  return kind === 'session' ? `s:${decision.facts.sessionId.toLowerCase()}:${decision.facts.uid}` : recordKey(decision.facts);
}

/**
 * The share cap guards against mass kills; a handful of kills is never one, so below this many planned
 * kills the share is not checked (on a quiet cluster with 3 sessions, one kill is already 33%).
 */
export const SHARE_CAP_FLOOR = 10;

function capExceeded(count: number, opts: PlanOptions): string | null {
  if (count > opts.maxKills) {
    return `${count} kills planned exceed --max-kills ${opts.maxKills}; pass turned report-only`;
  }
  if (count > SHARE_CAP_FLOOR && opts.totalSessions > 0 && count / opts.totalSessions > opts.maxKillShare) {
    const share = (count / opts.totalSessions) * 100;
    return `${count} kills planned are ${round(share)}% of ${opts.totalSessions} sessions, above --max-kill-share ${opts.maxKillShare} (${round(opts.maxKillShare * 100)}%); pass turned report-only`;
  }
  return null;
}

function round(n: number): string {
  return String(Math.round(n * 10) / 10);
}

/**
 * Victims ordered by what they hold: running time first (a long operation holds locks and tickets),
 * then transaction age (snapshot and cache), then cursor idleness, then session idleness; the
 * session id (or opid) last, so that equal records always come out in the same order.
 */
function byWhatTheyHold(a: PlannedKill, b: PlannedKill): number {
  const x = a.decision.facts;
  const y = b.decision.facts;
  return (
    y.longestOpSeconds - x.longestOpSeconds ||
    y.txnOpenSeconds - x.txnOpenSeconds ||
    y.longestCursorIdleSeconds - x.longestCursorIdleSeconds ||
    y.idleSeconds - x.idleSeconds ||
    compareText(x.sessionId, y.sessionId) ||
    compareText(x.opid, y.opid)
  );
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
