/**
 * The verify stage: one re-read of $currentOp after the kills (on a replica set, on the members killed on), listing what of the killed sessions and
 * operations is still running (an operation that does not check for interrupts until its next yield, for
 * example, or a kill the server refused without saying so).
 */
import type { StillRunningOp } from './audit/events.ts';
import type { KillTarget } from './kill.ts';
import type { MongoPort } from './ports.ts';

/**
 * The verification re-reads all of $currentOp; it is not started with less time than this left before the
 * deadline, so that it cannot run the pass past it (our estimate: a few hundred ms at 100,000 sessions,
 * ~2.5 s at 1,000,000, measured by `npm run bench`).
 */
export const VERIFY_MIN_MS = 3_000;

export async function verifyKills(mongo: MongoPort, killed: readonly KillTarget[]): Promise<StillRunningOp[]> {
  const sessions = new Set(killed.filter((k) => k.key).map((k) => k.key!.id + k.key!.uid));
  // Opids are per process: on a replica set an operation is matched on the member it was killed on.
  const opids = new Set(killed.filter((k) => k.kind === 'operation').flatMap((k) => (k.members?.length ? k.members.map((m) => `${m}/${k.opid}`) : [k.opid])));
  // Only the members killed on are read again, when every kill went to named members; else what currentOp reads.
  const members = [...new Set(killed.flatMap((k) => k.members ?? []))];
  const everyOnMembers = members.length > 0 && killed.every((k) => k.members?.length);
  const reread = everyOnMembers && mongo.currentOpOn ? mongo.currentOpOn(members) : mongo.currentOp();
  const still: StillRunningOp[] = [];
  for await (const batch of reread) {
    for (const a of batch) {
      if (a.type !== 'op' || !a.active) continue;
      const inKilledSession = a.sessionId && a.uid && sessions.has(a.sessionId + a.uid);
      if (inKilledSession || opids.has(a.member ? `${a.member}/${a.opid}` : a.opid)) {
        still.push({ sessionId: a.sessionId ?? '', uid: a.uid ?? '', opid: a.opid, secsRunning: a.secsRunning, ...(a.member ? { member: a.member } : {}) });
      }
    }
  }
  return still;
}
