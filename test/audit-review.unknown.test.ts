/**
 * A session whose application nobody reported (a cursor-only session: idle cursors carry no appName) is said to
 * be "(unknown)" everywhere an operator reads the audit: the event itself (appName null, valid under the
 * schema), `audit --app "(unknown)"`, `audit explain`, and the HTML report's per-application table.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { auditCommand } from '../src/cli/audit.ts';
import { validateAuditDetail } from '../src/pass/audit/schema.ts';
import { historyJsonLines, passEvents, uid } from './support/audit-history.ts';
import { capture } from './support/capture.ts';

const NOW = Date.parse('2024-05-02T10:00:00.000Z');
const CURSOR_ONLY = { id: '77777777-aaaa-4aaa-8aaa-000000000007', uid: uid('7'), user: 'etl@admin', appName: null, client: null };
const NO_APP_NAME = { id: '88888888-aaaa-4aaa-8aaa-000000000008', uid: uid('8'), user: 'etl@admin', appName: '', client: '10.0.0.8:1' };

const events = passEvents({
  runId: 'run-eu-0009', cluster: 'prod-eu', trigger: { type: 'schedule', name: 'every-5-minutes' }, dryRun: false,
  startedAt: '2024-05-02T09:50:00.000Z', finishedAt: '2024-05-02T09:50:05.000Z',
  decisions: [
    { at: '2024-05-02T09:50:01.000Z', session: CURSOR_ONLY, rule: 'stale-cursor-session', outcome: 'killed', facts: { cursorCount: 1, appName: null } },
    { at: '2024-05-02T09:50:02.000Z', session: NO_APP_NAME, rule: 'stale-cursor-session', outcome: 'killed', facts: { cursorCount: 1, appName: '' } },
  ],
});

let dir: string;
let file: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'audit-unknown-'));
  file = join(dir, 'audit.jsonl');
  writeFileSync(file, historyJsonLines(events));
});
after(() => rmSync(dir, { recursive: true, force: true }));

const audit = (args: string[]) => capture((io) => auditCommand(args, io), { now: () => NOW });

describe('an unknown application in the audit', () => {
  it('is null in the event, which the schema accepts', () => {
    for (const e of events) assert.deepEqual(validateAuditDetail(e.detail), [], e.detailType);
  });

  it('audit --app "(unknown)" finds it, and only it; "(none)" finds the client that gave no appName', async () => {
    const unknown = await audit(['--file', file, '--json', '--app', '(unknown)']);
    assert.equal(unknown.code, 0, unknown.stderr);
    const ids = unknown.stdout.trimEnd().split('\n').map((l) => (JSON.parse(l) as { detail: { session: { id: string } } }).detail.session.id);
    assert.deepEqual(ids, [CURSOR_ONLY.id]);
    const none = await audit(['--file', file, '--json', '--app', '(none)']);
    assert.deepEqual(none.stdout.trimEnd().split('\n').map((l) => (JSON.parse(l) as { detail: { session: { id: string } } }).detail.session.id), [NO_APP_NAME.id]);
    const table = await audit(['--file', file, '--app', '(unknown)']);
    assert.match(table.stdout, /\(unknown\)/);
  });

  it('audit explain says the application and the client are unknown', async () => {
    const out = await audit(['explain', CURSOR_ONLY.id, '--file', file]);
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout, /\(unknown\)/);
    assert.match(out.stdout, /appName=\(unknown\)/);
  });

  it('the HTML report files its kill under "(unknown)", not under "(none)"', async () => {
    const html = join(dir, 'report.html');
    const out = await audit(['report', '--html', html, '--file', file]);
    assert.equal(out.code, 0, out.stderr);
    const text = readFileSync(html, 'utf8');
    assert.match(text, /\(unknown\)/);
    assert.match(text, /\(none\)/);
  });
});
