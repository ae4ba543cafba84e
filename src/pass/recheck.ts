/**
 * The re-check right before a kill batch: one $currentOp restricted to the batch's sessions and operations
 * (MongoPort.currentOpOf) re-reads them, and a candidate whose state changed since the scan is not killed but
 * audited as skipped with what changed ("no longer matches: cursor used 2 s ago"). The scan is a snapshot: a
 * session can go back to work between it and the kill, and killing it then would kill work, not waste.
 *
 * What counts as a change, from the documents the server reports (docs/server-semantics.md#current-operations):
 *  - the candidate holds nothing any more (no document: its operation finished, its transaction ended, its
 *    cursors closed), or a sessionless operation's opid is gone;
 *  - its operation finished and another runs (the longest secs_running is shorter than at the scan), or the
 *    session runs something now where it ran nothing at the scan;
 *  - its transaction has another txnNumber, or ran a statement since (timeActiveMicros grew: it only grows
 *    while a statement runs);
 *  - a cursor of it was used since the scan (a lastAccessDate after the scan's view of its last use);
 *  - and, for everything else, the winning rule no longer decides a kill on the fresh facts.
 * The re-check sees what $currentOp shows: a short command that came and went between the scan and the re-check
 * in a session holding only cursors leaves no trace there (only the listings' lastUse would show it).
 */
import { recordKey, type SessionFacts } from './facts.ts';
import { InventoryBuilder } from './inventory.ts';
import type { Decision } from './policy/evaluate.ts';
import type { Freed } from './audit/events.ts';
import type { Activity, ActivityFilter, ReaperIdentity, SessionKey } from './ports.ts';

/**
 * Tolerance when comparing times of the two reads: secs_running is whole seconds (curop.cpp reports
 * elapsed seconds truncated), so one operation can read up to a second short.
 */
const SLACK_SECONDS = 1;
/** timeActiveMicros is whole microseconds: a growth of half of one is a statement, not floating-point rounding. */
const ACTIVE_EPSILON_SECONDS = 0.5e-6;

/** The filter of one batch's re-check. */
export function recheckFilter(candidates: readonly SessionFacts[]): ActivityFilter {
  const sessions: SessionKey[] = [];
  const opids: string[] = [];
  for (const f of candidates) {
    if (f.target === 'operation') opids.push(f.opid);
    else sessions.push({ id: f.sessionId, uid: f.uid });
  }
  return { sessions, opids };
}

/**
 * The candidates' facts as the re-check's documents show them at `now`. What $currentOp does not report is kept
 * from the scan: the listings' last use, the identity an earlier document or pass gave, the sightings.
 */
export function freshFacts(scanned: readonly SessionFacts[], docs: readonly Activity[], now: number, self: ReaperIdentity): Map<string, { fresh: SessionFacts; docsLastUseMs: number }> {
  const builder = new InventoryBuilder(now, self);
  for (const a of docs) builder.addActivity(a);
  const built = builder.build();
  const byKey = new Map<string, SessionFacts>();
  for (const f of built.sessions) byKey.set(recordKey(f), f);
  for (const f of built.sessionlessOps) byKey.set(recordKey(f), f);
  const out = new Map<string, { fresh: SessionFacts; docsLastUseMs: number }>();
  for (const s of scanned) {
    const f = byKey.get(recordKey(s));
    if (!f) continue;
    const docsLastUseMs = f.lastUseMs;
    if (s.lastUseMs > f.lastUseMs) f.lastUseMs = s.lastUseMs;
    f.idleSeconds = f.lastUseMs ? Math.max(0, (now - f.lastUseMs) / 1000) : 0;
    if (f.appName === null) f.appName = s.appName;
    if (f.client === null) { f.client = s.client; f.clientHost = s.clientHost; }
    if (f.clientDriver === null) f.clientDriver = s.clientDriver;
    if (!f.user) { f.user = s.user; f.userName = s.userName; f.userDb = s.userDb; f.isReaperUser = s.isReaperUser; }
    f.sightings = s.sightings;
    f.seenForSeconds = s.seenForSeconds;
    out.set(recordKey(s), { fresh: f, docsLastUseMs });
  }
  return out;
}

/** What a kill of this record frees: its operations, its unprepared transaction (killSessions leaves a prepared one alone), its cursors. */
export function heldBy(f: SessionFacts): Freed {
  return { operations: f.target === 'operation' ? 1 : f.opCount, transactionAborted: f.hasTransaction && !f.txnPrepared, cursors: f.cursorCount };
}

/** True when a kill would free nothing. */
export function freesNothing(freed: Freed): boolean {
  return freed.operations === 0 && !freed.transactionAborted && freed.cursors === 0;
}

const secs = (n: number): string => `${Math.max(0, Math.round(n))} s`;

/**
 * What changed of one candidate between the scan and the re-check (at nowMs), as the skip's reason;
 * null when nothing did and the winning rule still decides the kill (`decide` re-evaluates the policy).
 */
export function changeSince(
  scanned: SessionFacts, found: { fresh: SessionFacts; docsLastUseMs: number } | undefined, nowMs: number,
  decide: (f: SessionFacts) => Decision | null, rule: string,
): string | null {
  const why = (what: string): string => `no longer matches: ${what}`;
  if (!found) {
    if (scanned.target === 'operation') return why(`operation ${scanned.opid} finished`);
    // A session that held nothing at the scan (a rule naming holdsNothing) has no document: still nothing held.
    if (scanned.holdsNothing) return decide(scanned)?.rule === rule ? null : why(`rule "${rule}" no longer decides a kill`);
    const gone = [scanned.opCount > 0 && 'its operation finished', scanned.hasTransaction && 'its transaction ended', scanned.cursorCount > 0 && 'its cursors closed'].filter(Boolean);
    return why(`${gone.join(', ') || 'it holds nothing'} since the scan`);
  }
  const { fresh, docsLastUseMs } = found;
  // A still-running operation only grows older; the scan's reads are spread over its whole duration, so the
  // comparison is with the scanned age itself, not with the scan's start plus the time since.
  if (scanned.opCount > 0 && fresh.longestOpSeconds + SLACK_SECONDS < scanned.longestOpSeconds) {
    return why(`the operation running ${secs(scanned.longestOpSeconds)} at the scan finished${fresh.opCount ? ` (another runs, for ${secs(fresh.longestOpSeconds)})` : ''}`);
  }
  if (scanned.opCount === 0 && fresh.opCount > 0) {
    return why(`the session runs something now (${fresh.commandNames.join(', ') || fresh.opTypes.join(', ') || 'an operation'}, for ${secs(fresh.longestOpSeconds)})`);
  }
  if (scanned.hasTransaction) {
    if (!fresh.hasTransaction) return why('its transaction ended since the scan');
    if (fresh.txnNumber !== scanned.txnNumber) return why(`another transaction (txnNumber ${fresh.txnNumber}, was ${scanned.txnNumber})`);
    if (fresh.txnActiveSeconds > scanned.txnActiveSeconds + ACTIVE_EPSILON_SECONDS) return why('its transaction ran a statement since the scan');
  }
  if (scanned.cursorCount > 0) {
    if (fresh.cursorCount === 0) return why('its cursors closed since the scan');
    if (fresh.opCount === 0 && docsLastUseMs > scanned.lastUseMs) return why(`cursor used ${secs((nowMs - docsLastUseMs) / 1000)} ago`);
  }
  const d = decide(fresh);
  if (!d || d.action !== 'kill' || d.rule !== rule) {
    return why(`rule "${rule}" no longer decides a kill on a fresh read${d ? ` (now: ${d.action} by "${d.rule}")` : ''}`);
  }
  return null;
}
