/**
 * The exit code of `session-reaper run` and the lines it prints on stderr, from the pass's report.
 *
 *   0  the pass completed: every kill it sent succeeded and every audit event was delivered
 *   1  the pass failed (the run summary event says so too), or the snapshot of --record could not be written
 *   2  bad usage, configuration or policy: nothing was read or killed (decided before the pass)
 *   3  some audit events could not be delivered (each is logged on stderr with its full content)
 *   4  kills failed (refused by the server, the connection dropped): those sessions are still there
 *
 * When several apply, the code is the first of 3, 1, 4: an audit trail that is only on stderr needs
 * collecting before anything else (a script that checks for 3 must always see it), and a failed pass
 * says more than the kills that failed in it. Every problem that applies gets its line, whatever the code.
 */
import { describeKillFailures } from '../pass/kill-failures.ts';
import type { RunReport } from '../pass/pass.ts';
import { redactUri } from '../util/redact.ts';

export const EXIT = { ok: 0, failed: 1, usage: 2, auditUndelivered: 3, killsFailed: 4 } as const;

/** `recordingFailed`: why the snapshot of `run --record` could not be written (the pass itself ran). */
export function runOutcome(report: RunReport, recordingFailed: Error | null = null): { code: number; lines: string[] } {
  const lines: string[] = [];
  const codes: number[] = [];
  if (report.error) {
    lines.push(`the pass failed: ${redactUri(report.error)}`);
    codes.push(EXIT.failed);
  }
  if (recordingFailed) {
    lines.push(redactUri(recordingFailed.message));
    codes.push(EXIT.failed);
  }
  if (report.counts.failed > 0) {
    lines.push(`${describeKillFailures(report.counts.failed, report.killFailures)}; each is audited as "Session Kill Failed"`);
    codes.push(EXIT.killsFailed);
  }
  if (report.audit.failed > 0) {
    lines.push(`${report.audit.failed} of ${report.audit.events} audit events could not be delivered; each is logged above with its content`);
    codes.push(EXIT.auditUndelivered);
  }
  const precedence: number[] = [EXIT.auditUndelivered, EXIT.failed, EXIT.killsFailed];
  return { code: precedence.find((c) => codes.includes(c)) ?? EXIT.ok, lines };
}
