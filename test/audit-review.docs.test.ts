/**
 * docs/audit-events.md documents each DetailType with a real example: every example must be a valid
 * event under the published schema, its detail-type must agree with its detail, and every DetailType
 * must have one. So the page cannot fall behind the schema unnoticed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { DETAIL_TYPES } from '../src/pass/audit/events.ts';
import { parseAuditText } from '../src/review/parse.ts';

const page = readFileSync(new URL('../docs/audit-events.md', import.meta.url), 'utf8');

/** Each "### DetailType" section's JSON example. */
function examples(): Map<string, string> {
  const found = new Map<string, string>();
  for (const m of page.matchAll(/^### (.+)\n[\s\S]*?```json\n([\s\S]*?)\n```/gm)) found.set(m[1]!.trim(), m[2]!);
  return found;
}

test('every DetailType has a section with an example, and nothing else does', () => {
  assert.deepEqual([...examples().keys()].sort(), Object.values(DETAIL_TYPES).sort());
});

test('each example is a valid audit event of its section\'s DetailType', () => {
  for (const [detailType, json] of examples()) {
    // Act: read it as `session-reaper audit` reads a line.
    const item = parseAuditText(JSON.stringify(JSON.parse(json)), detailType);
    // Assess
    assert.equal(item.problem, undefined, `${detailType}: ${item.problem?.message}`);
    assert.equal(item.record!.envelope['detail-type'], detailType);
  }
});

test('the review guide documents every filter and output of the command', () => {
  const guide = readFileSync(new URL('../docs/audit-review.md', import.meta.url), 'utf8');
  for (const flag of ['--since', '--until', '--cluster', '--user', '--app', '--rule', '--session', '--outcome', '--trigger', '--run', '--json', '--csv', '--log-group', '--file', '--page-size', '--html', '--rows']) {
    // In code: a flag named in running text only would not show how to use it.
    assert.ok(new RegExp(`\`[^\`]*${flag}\\b[^\`]*\``).test(guide), `${flag} is documented`);
  }
});
