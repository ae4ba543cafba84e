/**
 * `session-reaper audit --host`: decisions that name a replica-set member (where the session held something
 * and where the kill went) are found by that member; run summaries and decisions on a standalone (no members)
 * are left out.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { auditCommand } from '../src/cli/audit.ts';
import { describeFilter } from '../src/review/filter.ts';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditEvent, DecisionDetail } from '../src/pass/audit/events.ts';
import { validateAuditDetail } from '../src/pass/audit/schema.ts';
import { historyEvents, historyJsonLines } from './support/audit-history.ts';
import { capture } from './support/capture.ts';

const SECONDARY = 'db-2.example.net:27017';
const PRIMARY = 'db-1.example.net:27017';

/** The history's decisions, the first two placed on members: one on the secondary, one on both. */
function withMembers(): AuditEvent[] {
  const events = historyEvents();
  const decisions = events.filter((e) => e.detail.kind === 'decision' && e.detail.outcome === 'killed');
  (decisions[0]!.detail as DecisionDetail).members = [{ host: SECONDARY, outcome: 'killed' }];
  (decisions[1]!.detail as DecisionDetail).members = [{ host: PRIMARY, outcome: 'killed' }, { host: SECONDARY, outcome: 'failed', error: 'connection closed' }];
  return events;
}

test('--host lists the decisions naming that member, case-insensitively; the report title names it', async () => {
  // Prepare
  const events = withMembers();
  for (const e of events) assert.deepEqual(validateAuditDetail(e.detail), [], e.detailType);
  const dir = mkdtempSync(join(tmpdir(), 'audit-host-'));
  const file = join(dir, 'audit.jsonl');
  writeFileSync(file, historyJsonLines(events));
  const ids = async (...args: string[]) => {
    const out = await capture((io) => auditCommand(['--file', file, '--json', ...args], io));
    assert.equal(out.code, 0, out.stderr);
    return out.stdout.trimEnd().split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { id: string }).id);
  };
  try {
    // Act and assess
    // The JSON lines number the envelopes evt-1, evt-2, ... in history order.
    const [first, second] = events.flatMap((e, i) => ((e.detail as DecisionDetail).members ? [`evt-${i + 1}`] : []));
    assert.deepEqual(await ids('--host', SECONDARY), [first, second]);
    assert.deepEqual(await ids('--host', PRIMARY.toUpperCase()), [second]);
    assert.deepEqual(await ids('--host', PRIMARY, '--host', SECONDARY), [first, second]);
    assert.deepEqual(await ids('--host', 'db-3.example.net:27017'), []);
    // The report's title names the filter.
    assert.equal(describeFilter({ hosts: [PRIMARY, SECONDARY] }), `host ${PRIMARY} or ${SECONDARY}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the HTML report shows what the kills did on each member, and no member section on a standalone', async () => {
  // Prepare
  const dir = mkdtempSync(join(tmpdir(), 'audit-host-report-'));
  const file = join(dir, 'audit.jsonl');
  const plain = join(dir, 'plain.jsonl');
  writeFileSync(file, historyJsonLines(withMembers()));
  writeFileSync(plain, historyJsonLines());
  try {
    // Act
    for (const [input, html] of [[file, join(dir, 'rs.html')], [plain, join(dir, 'plain.html')]] as const) {
      const out = await capture((io) => auditCommand(['report', '--html', html, '--file', input], io));
      assert.equal(out.code, 0, out.stderr);
    }
    // Assess
    const rs = readFileSync(join(dir, 'rs.html'), 'utf8');
    const cell = (figure: string, key: string): number => Number(new RegExp(`data-figure="${figure}" data-key="${key.replace(/\./g, '\\.')}" data-value="(\\d+)"`).exec(rs)?.[1]);
    assert.match(rs, /<h2>Kills per replica-set member<\/h2>/);
    assert.deepEqual([cell('member-killed', SECONDARY), cell('member-failed', SECONDARY)], [1, 1]);
    assert.deepEqual([cell('member-killed', PRIMARY), cell('member-failed', PRIMARY)], [1, 0]);
    assert.doesNotMatch(readFileSync(join(dir, 'plain.html'), 'utf8'), /replica-set member/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
