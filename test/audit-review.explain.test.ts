/**
 * `session-reaper audit explain SESSION_ID`: each pass that decided something about the session, in
 * time order, with the rule, the matched facts, the outcome and the pass's context.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { auditCommand } from '../src/cli/audit.ts';
import type { SessionStory } from '../src/review/explain.ts';
import { historyJsonLines, S } from './support/audit-history.ts';
import { capture } from './support/capture.ts';

let dir: string;
let file: string;
let shuffled: string;

before(() => {
  // Prepare: the history in file order, and the same lines reversed (as a merge of files could leave them).
  dir = mkdtempSync(join(tmpdir(), 'audit-explain-'));
  file = join(dir, 'audit.jsonl');
  shuffled = join(dir, 'reversed.jsonl');
  const text = historyJsonLines();
  writeFileSync(file, text);
  writeFileSync(shuffled, `${text.trimEnd().split('\n').reverse().join('\n')}\n`);
});

after(() => rmSync(dir, { recursive: true, force: true }));

const audit = (args: string[]) => capture((io) => auditCommand(args, io));

describe('audit explain', () => {
  it('tells a killed session\'s story: the dry run that planned it, then the pass that killed it', async () => {
    // Act
    const out = await audit(['explain', S.aliceTxn.id, '--file', file]);
    // Assess
    assert.equal(out.code, 0, out.stderr);
    const text = out.stdout;
    assert.match(text, /^session 11111111-aaaa-4aaa-8aaa-000000000001\n {2}user alice@admin, application orders-api, client 10\.0\.0\.1:50001\n/);
    assert.match(text, /seen by 2 pass\(es\).*killed at 2024-05-01T10:00:01\.500Z by rule "idle-transaction" in pass run-eu-0002-2222/);
    const first = text.indexOf('1. 2024-05-01T09:00:00.500Z  pass run-dry-0001-1111, cluster prod-eu, trigger manual:pre-check, dry run');
    const second = text.indexOf('2. 2024-05-01T10:00:01.500Z  pass run-eu-0002-2222, cluster prod-eu, trigger schedule:every-5-minutes\n');
    assert.ok(first > 0 && second > first, text);
    assert.match(text, /facts {4}hasTransaction=true, txnInactiveSeconds=75\.5\n {3}outcome {2}planned: a dry run, nothing was killed/);
    assert.match(text, /facts {4}hasTransaction=true, txnInactiveSeconds=3675\.5\n {3}outcome {2}killed \(killSessions batch 1, 3 session\(s\) in it\)/);
    assert.match(text, /the pass killed 2, failed 0, skipped 1 of 5 sessions/);
  });

  it('orders the passes by time whatever the order of the input', async () => {
    // Act
    const inOrder = await audit(['explain', S.aliceTxn.id, '--file', file]);
    const reversed = await audit(['explain', S.aliceTxn.id, '--file', shuffled]);
    // Assess
    assert.equal(reversed.stdout, inOrder.stdout);
  });

  it('a skipped session: why, and that its pass was report-only', async () => {
    // Act
    const out = await audit(['explain', '44444444', '--file', file]);
    // Assess
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout, /not killed: the last pass skipped it \(report-only: 1 kill would exceed --max-kill-share 0\.1/);
    assert.match(out.stdout, /2\. 2024-05-02T09:30:00\.500Z {2}pass run-eu-0004-4444, .*report-only: 1 kill would exceed --max-kill-share 0\.1\n/);
    // The line break in the reason is shown as a space: one value, one line.
    assert.match(out.stdout, /outcome {2}skipped: report-only: .*commas and a line break\n/);
  });

  it('a failed kill: the server\'s error code and message', async () => {
    // Act
    const out = await audit(['explain', S.daveA.id, '--file', file]);
    // Assess
    assert.match(out.stdout, /outcome {2}failed \(killSessions batch 1, 3 session\(s\) in it\): 13 Unauthorized: not authorized on admin/);
    assert.match(out.stdout, /not killed: the last kill attempt \(rule "runaway-operation"\) failed/);
  });

  it('--json gives the same story as data', async () => {
    // Act
    const out = await audit(['explain', S.aliceTxn.id, '--file', file, '--json']);
    // Assess
    const story = JSON.parse(out.stdout) as SessionStory;
    assert.equal(story.sessionId, S.aliceTxn.id);
    assert.equal(story.user, 'alice@admin');
    assert.deepEqual(story.steps.map((s) => [s.runId, s.dryRun, s.rule, s.outcome]), [
      ['run-dry-0001-1111', true, 'idle-transaction', 'planned'],
      ['run-eu-0002-2222', false, 'idle-transaction', 'killed'],
    ]);
    assert.deepEqual(story.steps[1]!.facts, { hasTransaction: true, txnInactiveSeconds: 3675.5 });
    assert.equal(story.steps[1]!.pass?.tally, 'killed 2, failed 0, skipped 1 of 5 sessions');
  });

  it('--since narrows the passes told; the window still applies to the session\'s events', async () => {
    // Act
    const out = await audit(['explain', S.aliceTxn.id, '--file', file, '--since', '2024-05-01T10:00:00Z', '--json']);
    // Assess
    assert.deepEqual((JSON.parse(out.stdout) as SessionStory).steps.map((s) => s.outcome), ['killed']);
  });

  it('an ambiguous prefix lists the sessions it matches and exits 2', async () => {
    // Act
    const out = await audit(['explain', '55555555', '--file', file]);
    // Assess
    assert.equal(out.code, 2);
    assert.equal(out.stdout, '');
    assert.match(out.stderr, /matches 2 sessions; give more of the id:\n {2}55555555-eeee-4eee-8eee-000000000005\n {2}55555555-ffff-4fff-8fff-000000000006/);
  });

  it('an unknown session says no pass decided anything about it and exits 1', async () => {
    const out = await audit(['explain', '99999999', '--file', file]);
    assert.equal(out.code, 1);
    assert.match(out.stderr, /no decision about session 99999999 in the events read/);
  });

  it('takes only the filters that apply to passes', async () => {
    const out = await audit(['explain', S.aliceTxn.id, '--file', file, '--outcome', 'killed']);
    assert.equal(out.code, 2);
    assert.match(out.stderr, /does not take --outcome/);
    const bad = await audit(['explain', 'not-an-id!', '--file', file]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /is not a session id/);
  });
});
