/**
 * The failed kills of a pass, grouped by the error that failed them, for the run summary event and the
 * failed-pass report: which kills failed and why, in an event of bounded size. Each failed kill also
 * has its own "Session Kill Failed" event with the full error; this is the overview.
 */
import type { KillFailureGroup } from './audit/events.ts';

/**
 * Limits of the overview (our choice). Distinct errors in one pass are few (a refusal, a dropped
 * connection); ids listed per error are a sample to start from. With messages cut at
 * KILL_FAILURE_MESSAGE_MAX characters, the overview stays under ~25 KB, a tenth of the 256 KB PutEvents
 * entry limit (PUT_EVENTS_MAX_BYTES in src/adapters/eventbridge.ts).
 */
export const KILL_FAILURE_GROUPS_MAX = 10;
export const KILL_FAILURE_IDS_MAX = 20;
export const KILL_FAILURE_MESSAGE_MAX = 500;

export interface FailedKill {
  target: 'session' | 'operation';
  sessionId: string;
  opid: string;
  error?: { code?: number; codeName?: string; message: string };
}

/** Groups by (code, codeName, message), largest group first; at most KILL_FAILURE_GROUPS_MAX groups. */
export function groupKillFailures(failed: readonly FailedKill[]): KillFailureGroup[] {
  const groups = new Map<string, KillFailureGroup>();
  for (const f of failed) {
    const error = f.error ?? { message: 'no error recorded' };
    const key = JSON.stringify([error.code, error.codeName, error.message]);
    let group = groups.get(key);
    if (!group) {
      const message = error.message.length > KILL_FAILURE_MESSAGE_MAX ? `${error.message.slice(0, KILL_FAILURE_MESSAGE_MAX)}…` : error.message;
      group = {
        error: { ...(error.code !== undefined ? { code: error.code } : {}), ...(error.codeName !== undefined ? { codeName: error.codeName } : {}), message },
        count: 0, sessionIds: [], opids: [],
      };
      groups.set(key, group);
    }
    group.count++;
    const ids = f.target === 'session' ? group.sessionIds : group.opids;
    if (ids.length < KILL_FAILURE_IDS_MAX) ids.push(f.target === 'session' ? f.sessionId : f.opid);
  }
  return [...groups.values()].sort((a, b) => b.count - a.count).slice(0, KILL_FAILURE_GROUPS_MAX);
}

/** One line for messages: "30 kill(s) failed: 30 with 13 Unauthorized: not authorized...". */
export function describeKillFailures(failed: number, groups: readonly KillFailureGroup[]): string {
  const parts = groups.map((g) => `${g.count} with ${[g.error.code, g.error.codeName].filter((x) => x !== undefined).join(' ')}${g.error.code !== undefined || g.error.codeName ? ': ' : ''}${g.error.message}`);
  return `${failed} kill(s) failed (${parts.join('; ')})`;
}
