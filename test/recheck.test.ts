/**
 * What the re-check before a kill counts as a change (src/pass/recheck.ts), from real-shaped activity: the
 * candidate's scanned facts against the facts of the re-check's documents.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { emptyFacts, recordKey, type SessionFacts } from '../src/pass/facts.ts';
import type { Decision } from '../src/pass/policy/evaluate.ts';
import type { Activity } from '../src/pass/ports.ts';
import { changeSince, freshFacts } from '../src/pass/recheck.ts';
import { activity } from './support/activity.ts';

const SCAN = Date.UTC(2026, 0, 5, 9, 0, 0);
const NOW = SCAN + 2_000;
const SELF = { sessionId: '00000000-0000-4000-8000-000000000000', uid: 'f'.repeat(64), user: '' };
const ID = '9f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f';
const UID = 'a'.repeat(64);
const kill = (rule: string): Decision => ({ action: 'kill', rule } as Decision);

function scanned(docs: Activity[], at = SCAN): SessionFacts {
  const f = freshFacts([Object.assign(emptyFacts('session'), { sessionId: ID, uid: UID })], docs, at, SELF).get(`s:${ID}:${UID}`)!.fresh;
  return f;
}

function change(before: Activity[], after: Activity[], decide = (_f: SessionFacts): Decision | null => kill('r')): string | null {
  const s = scanned(before);
  return changeSince(s, freshFacts([s], after, NOW, SELF).get(recordKey(s)), NOW, decide, 'r');
}

const txn = (txnNumber: number, activeSeconds: number, openSeconds = 100): Activity => activity({
  type: 'idleSession', sessionId: ID, uid: UID, appName: 'a', client: '10.0.0.1:1',
  txn: { txnNumber, openSeconds, activeSeconds, inactiveSeconds: openSeconds - activeSeconds, prepared: false, expiresAtMs: 0 },
});
const op = (opid: string, secsRunning: number): Activity => activity({ type: 'op', sessionId: ID, uid: UID, opid, active: true, secsRunning, appName: 'a', client: '10.0.0.1:1', commandName: 'find' });
const cursor = (lastAccessMs: number): Activity => activity({ type: 'idleCursor', sessionId: ID, uid: UID, cursorLastAccessMs: lastAccessMs });

describe('the re-check', () => {
  test('an unchanged candidate whose rule still decides the kill is killed', () => {
    assert.equal(change([txn(3, 0.5)], [txn(3, 0.5, 102)]), null);
    assert.equal(change([op('7', 400)], [op('7', 402)]), null);
    assert.equal(change([cursor(SCAN - 1_000_000)], [cursor(SCAN - 1_000_000)]), null);
  });

  test('a transaction that ran a statement, another transaction, an ended one', () => {
    assert.equal(change([txn(3, 0.5)], [txn(3, 0.500001, 102)]), 'no longer matches: its transaction ran a statement since the scan');
    assert.equal(change([txn(3, 0.5)], [txn(4, 0, 1)]), 'no longer matches: another transaction (txnNumber 4, was 3)');
    assert.equal(change([txn(3, 0.5), cursor(SCAN - 5_000)], [cursor(SCAN - 5_000)]), 'no longer matches: its transaction ended since the scan');
  });

  test('an operation that finished or was replaced, a session that runs something now', () => {
    assert.equal(change([op('7', 400)], [op('8', 1)]), 'no longer matches: the operation running 400 s at the scan finished (another runs, for 1 s)');
    assert.equal(change([txn(3, 0.5)], [txn(3, 0.5, 102), op('9', 0)]), 'no longer matches: the session runs something now (find, for 0 s)');
    assert.equal(change([op('7', 400)], []), 'no longer matches: its operation finished since the scan');
  });

  test('a cursor used since the scan says how long ago', () => {
    assert.equal(change([cursor(SCAN - 1_000_000)], [cursor(SCAN - 1_000_000), cursor(NOW - 100)]), 'no longer matches: cursor used 0 s ago', 'a new cursor counts as a use');
    assert.equal(change([cursor(SCAN - 1_000_000)], [cursor(SCAN + 500)]), 'no longer matches: cursor used 2 s ago');
  });

  test('a sessionless operation that is gone, and a rule that no longer decides the kill', () => {
    const f = Object.assign(emptyFacts('operation'), { opid: '42', opCount: 1, longestOpSeconds: 400 });
    assert.equal(changeSince(f, undefined, NOW, () => kill('r'), 'r'), 'no longer matches: operation 42 finished');
    assert.equal(change([txn(3, 0.5)], [txn(3, 0.5, 102)], () => ({ action: 'protect', rule: 'p' } as Decision)), 'no longer matches: rule "r" no longer decides a kill on a fresh read (now: protect by "p")');
  });

  test('an operation is its opid on its member: the same "shard:n" on another member of the shard is another operation', () => {
    // Prepare: opids are per process, so the secondary's operation 5 and the primary's are both "shard1:5".
    const sessionless = (member: string, secsRunning: number): Activity => activity({ opid: 'shard1:5', secsRunning, appName: 'job', client: '10.0.0.1:1', commandName: 'sleep', member, shard: 'shard1' });
    const onSecondary = sessionless('10.0.0.3:27017', 400);
    const scannedOp = Object.assign(emptyFacts('operation'), { opid: 'shard1:5', members: ['10.0.0.3:27017'], opCount: 1, longestOpSeconds: 400 });
    // Act
    const fresh = freshFacts([scannedOp], [{ ...onSecondary, secsRunning: 402 }, sessionless('10.0.0.2:27017', 0)], NOW, SELF);
    // Assess: the secondary's own operation, still running, is the one compared, not the primary's that has the same opid.
    const found = fresh.get(recordKey(scannedOp));
    assert.equal(found?.fresh.longestOpSeconds, 402);
    assert.deepEqual(found?.fresh.members, ['10.0.0.3:27017']);
    assert.equal(changeSince(scannedOp, found, NOW, () => kill('r'), 'r'), null);
  });
});
