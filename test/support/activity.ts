/** A normalised $currentOp document with every field at its "absent" value, for tests that build Activity by hand. */
import type { Activity } from '../../src/pass/ports.ts';

export function activity(fields: Partial<Activity>): Activity {
  return {
    type: 'op', sessionId: null, uid: null, childSession: false, opid: '', active: true, secsRunning: 0, op: 'command', ns: 'db.$cmd',
    appName: null, client: null, clientDriver: null, connectionId: 0, user: '', txn: null, cursorLastAccessMs: 0,
    commandName: '', comment: '', stages: [], desc: '', msg: '', planSummary: '', queryShapeHash: '',
    waitingForLock: false, lockWaitMicros: 0, numYields: 0, writeConflicts: 0, killPending: false, coordinator: false,
    tailable: false, awaitData: false, noCursorTimeout: false, docsReturned: 0,
    ...fields,
  };
}
