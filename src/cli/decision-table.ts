/**
 * The decision table of a pass (`run`) and of a backtest, in one place: the backtest's worker threads render
 * their snapshots with it without loading the run command's modules (the driver, the audit sinks).
 */
import type { DecisionRow } from '../pass/journal.ts';
import { UNKNOWN_LABEL } from '../util/identity-label.ts';
import { formatTable } from '../util/table.ts';

const ORDER = ['killed', 'failed', 'planned', 'skipped', 'protected', 'reported'];

/** The session column: the first 8 digits of the id, or the opid of a sessionless operation. */
export function sessionLabel(r: Pick<DecisionRow, 'target' | 'opid' | 'sessionId'>): string {
  return r.target === 'operation' ? `op ${r.opid}` : r.sessionId ? r.sessionId.slice(0, 8) : '';
}

/** The application column: unknown (null: no document named it) is said so, none given is "-". */
export function appLabel(appName: string | null): string {
  return appName === null ? UNKNOWN_LABEL : appName || '-';
}

/** Where it held something, and what the kill did there when it was not killed everywhere. */
function membersCell(r: DecisionRow): string {
  if (r.memberKills?.some((k) => k.outcome !== 'killed')) return r.memberKills.map((k) => `${k.host} ${k.outcome}`).join(', ');
  return (r.members ?? []).join(', ');
}

/** Killed first, then failed, planned, skipped, protected, reported. */
export function renderDecisions(decisions: readonly DecisionRow[]): string {
  const rows = [...decisions].sort((a, b) => ORDER.indexOf(a.outcome) - ORDER.indexOf(b.outcome));
  return rows.length
    ? formatTable(rows, [
      { header: 'OUTCOME', value: (r) => r.outcome },
      { header: 'RULE', value: (r) => r.rule },
      { header: 'USER', value: (r) => r.user || '-', max: 24 },
      { header: 'APP', value: (r) => appLabel(r.appName), max: 24 },
      { header: 'SESSION', value: sessionLabel },
      { header: 'HOLDS', value: (r) => r.holds, max: 36 },
      // Only on a replica set read member by member: a standalone's table is as it always was.
      ...(rows.some((r) => r.members?.length) ? [{ header: 'MEMBERS', value: membersCell, max: 48 }] : []),
      { header: 'WHY', value: (r) => r.error?.message ?? r.why ?? r.reason, max: 80 },
    ])
    : '(no session matched any rule)';
}
