/**
 * `npm run invoke` (scripts/invoke.ts): each deployed function's handler run locally with the fixture events of
 * test/events/, against a stand-in the script starts, the way docs/deploy.md tells an operator to try them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** Not events of the reaper function: the Atlas alert body (inside function-url-atlas-alert.json) and the settings file. */
const NOT_REAPER_EVENTS = new Set(['atlas-alert.json', 'function-url-atlas-alert.json', 'local-deployment.json']);

interface Line { event: string; result?: Record<string, unknown>; error?: string; handedOff: { payload: unknown; result?: Record<string, unknown> }[] }

function invoke(fn: string, events: string[]): { status: number | null; lines: Map<string, Line>; stderr: string } {
  const env = { ...process.env };
  for (const k of ['MONGODB_URI', 'MONGODB_SECRET_ARN', 'REAPER_CLUSTERS', 'REAPER_AUDIT', 'DRY_RUN']) delete env[k];
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/invoke.ts', fn, ...events.flatMap((e) => ['--event', `test/events/${e}`])], { cwd: ROOT, env, encoding: 'utf8' });
  const lines = new Map<string, Line>();
  for (const l of r.stdout.split('\n')) {
    if (!l.startsWith('{"event"')) continue;
    const parsed = JSON.parse(l) as Line;
    lines.set(parsed.event.replace('test/events/', ''), parsed);
  }
  return { status: r.status, lines, stderr: r.stderr };
}

test('the reaper function runs every fixture event: passes, ignored events and refused requests as Lambda would', () => {
  // Prepare
  const fixtures = readdirSync(new URL('./events/', import.meta.url)).filter((f) => f.endsWith('.json') && !NOT_REAPER_EVENTS.has(f)).sort();
  // Act
  const { status, lines, stderr } = invoke('reaper', fixtures);
  // Assess
  assert.deepEqual([...lines.keys()].sort(), fixtures, stderr);
  assert.equal(status, 1, 'the invalid manual requests fail their invocations');
  const pass = (f: string) => lines.get(f)!.result as { runId?: string; policySet?: string; dryRun?: boolean; error?: unknown };
  for (const f of ['scheduled-event.json', 'scheduler-input.json', 'alarm-state-change-alarm.json', 'manual-run-policy-set.json']) {
    assert.match(String(pass(f).runId), /^[0-9a-f-]{36}$/, `${f} ran a pass`);
    assert.equal(pass(f).error, null, f);
    assert.equal(pass(f).dryRun, true, `${f}: a dry run unless DRY_RUN says otherwise`);
  }
  assert.equal(pass('alarm-state-change-alarm.json').policySet, 'strict', 'the alarm is mapped to its policy set');
  for (const f of ['alarm-state-change-ok.json', 'alarm-state-change-insufficient-data.json', 'audit-event-replayed.json']) {
    assert.equal(typeof lines.get(f)!.result?.ignored, 'string', `${f} is ignored`);
  }
  for (const f of ['manual-invalid-no-reason.json', 'manual-invalid-session-id.json']) {
    assert.match(lines.get(f)!.error ?? '', /^InvalidTriggerError: the manual request's .*; nothing was killed/, f);
  }
  assert.equal((lines.get('manual-kill-sessions.json')!.result as { action?: string }).action, 'kill-sessions');
});

test('the Atlas webhook verifies the fixture\'s signature and hands the pass to the reaper, run locally too', () => {
  // Act
  const { status, lines, stderr } = invoke('atlasWebhook', ['function-url-atlas-alert.json']);
  // Assess
  assert.equal(status, 0, stderr);
  const line = lines.get('function-url-atlas-alert.json')!;
  assert.equal(line.result?.statusCode, 202);
  assert.equal(line.handedOff.length, 1);
  assert.equal(line.handedOff[0]!.result?.policySet, 'strict');
  assert.match(String(line.handedOff[0]!.result?.runId), /^[0-9a-f-]{36}$/);
});
