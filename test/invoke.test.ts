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

/** A line of the functions' logger (Powertools): the invocation's fields once a handler has run. */
interface LogLine { message: string; function_request_id?: string; cold_start?: boolean }

function invoke(fn: string, events: string[]): { status: number | null; lines: Map<string, Line>; logged: LogLine[]; stderr: string } {
  const env = { ...process.env };
  for (const k of ['MONGODB_URI', 'MONGODB_SECRET_ARN', 'REAPER_CLUSTERS', 'REAPER_AUDIT', 'DRY_RUN', 'AWS_LAMBDA_INITIALIZATION_TYPE']) delete env[k];
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/invoke.ts', fn, ...events.flatMap((e) => ['--event', `test/events/${e}`])], { cwd: ROOT, env, encoding: 'utf8' });
  const lines = new Map<string, Line>();
  const logged: LogLine[] = [];
  for (const l of r.stdout.split('\n')) {
    if (l.startsWith('{"event"')) {
      const parsed = JSON.parse(l) as Line;
      lines.set(parsed.event.replace('test/events/', ''), parsed);
    } else if (l.startsWith('{"level"')) {
      logged.push(JSON.parse(l) as LogLine);
    }
  }
  return { status: r.status, lines, logged, stderr: r.stderr };
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

test('the first invocation of a run logs cold_start true and the next one false, as in a fresh Lambda container', () => {
  // Act: two events, one process (one container)
  const { status, logged, stderr } = invoke('reaper', ['scheduler-input.json', 'scheduled-event.json']);
  // Assess
  assert.equal(status, 0, stderr);
  const ofInvocation = (id: string) => logged.filter((l) => l.function_request_id === id);
  assert.ok(ofInvocation('local-1').some((l) => l.message === 'Reaper pass completed'), 'the first pass logged its completion');
  assert.ok(ofInvocation('local-2').some((l) => l.message === 'Reaper pass completed'), 'the second pass logged its completion');
  assert.deepEqual([...new Set(ofInvocation('local-1').map((l) => l.cold_start))], [true], 'the first invocation is a cold start');
  assert.deepEqual([...new Set(ofInvocation('local-2').map((l) => l.cold_start))], [false], 'the second one is not');
});
