/**
 * Issue 14, findings 3 and 7: `session-reaper run` as a separate process whose kills fail, whose stdout
 * is a closed pipe, or whose pass fails after its kills with the audit undeliverable. Exit codes as the
 * README documents them (src/cli/run-outcome.ts), every problem named on stderr, nothing unhandled.
 * Each test seeds its own sessions on one stand-in (synthetic idle transactions the default policy kills).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MongoClient } from 'mongodb';
import { startStandin, type RunningStandin } from '../standin/src/server.ts';
import { validateAuditDetail } from '../src/pass/audit/schema.ts';
import { seedIdleTransactions } from './support/idle-transactions.ts';
import { undeliveredEvents } from './support/undelivered-log.ts';

const BIN = fileURLToPath(new URL('../bin/session-reaper.mjs', import.meta.url));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `closedStdout`: the reader of stdout is gone before the command writes anything (EPIPE). */
function cli(args: string[], options: { closedStdout?: boolean } = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, MONGODB_URI: '', NODE_NO_WARNINGS: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    if (options.closedStdout) child.stdout.destroy();
    else child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}


describe('session-reaper run: failed kills, closed stdout, failures after kills', () => {
  let standin: RunningStandin;
  let client: MongoClient;
  let seed = 0;
  before(async () => {
    standin = await startStandin({ params: { transactionLifetimeLimitSeconds: 86_400 } });
    client = new MongoClient(standin.uri);
    await client.connect();
  });
  after(async () => {
    await client?.close();
    await standin?.stop();
  });

  const failPoint = (mode: unknown, data: object = {}) => client.db('admin').command({ configureFailPoint: 'failCommand', mode, data });
  // One run per test: the idle rule kills on its first sighting (--min-sightings 1).
  const runArgs = (audit: string) => ['run', '--uri', standin.uri, '--audit', audit, '--max-kill-share', '1', '--min-sightings', '1'];
  const auditFile = () => join(mkdtempSync(join(tmpdir(), 'cli-failures-')), 'audit.jsonl');
  const readAudit = (path: string) => readFileSync(path, 'utf8').trim().split('\n').map((l) => JSON.parse(l));

  it('every killSessions refused (13): exit 4, the failures on stderr and in the run summary', async () => {
    // Prepare
    await seedIdleTransactions(client, 12, ++seed);
    await failPoint('alwaysOn', { failCommands: ['killSessions'], errorCode: 13 });
    const path = auditFile();

    // Act
    const { code, stderr } = await cli([...runArgs(`file:${path}`), '--batch-size', '5']);
    await failPoint('off');

    // Assess
    assert.equal(code, 4, stderr);
    assert.match(stderr, /session-reaper run: 12 kill\(s\) failed \(12 with 13 Unauthorized: Failing command via 'failCommand' failpoint\)/);
    const events = readAudit(path);
    assert.equal(events.filter((e) => e['detail-type'] === 'Session Kill Failed').length, 12);
    const summary = events.find((e) => e['detail-type'] === 'Reaper Run Completed')!.detail;
    assert.deepEqual(validateAuditDetail(summary), []);
    assert.equal(summary.counts.failed, 12);
    assert.deepEqual(summary.killFailures.map((f: { count: number; error: { code: number; codeName: string } }) => [f.count, f.error.code, f.error.codeName]), [[12, 13, 'Unauthorized']]);
    assert.equal(summary.killFailures[0].sessionIds.length, 12);
    assert.deepEqual(summary.audit, { events: 12, undelivered: 0 });
  });

  it('the connection dropped during killSessions: exit 4, the kills audited as failed', async () => {
    // Prepare
    await seedIdleTransactions(client, 12, ++seed);
    await failPoint({ times: 1 }, { failCommands: ['killSessions'], closeConnection: true });
    const path = auditFile();

    // Act
    const { code, stderr } = await cli([...runArgs(`file:${path}`), '--batch-size', '100']);

    // Assess
    assert.equal(code, 4, stderr);
    assert.match(stderr, /session-reaper run: \d+ kill\(s\) failed/);
    const summary = readAudit(path).find((e) => e['detail-type'] === 'Reaper Run Completed')!.detail;
    assert.ok(summary.counts.failed >= 12, JSON.stringify(summary.counts));
    assert.ok(summary.killFailures.length >= 1);
  });

  it('--audit stdout into a closed pipe: every event logged on stderr, exit 3, nothing unhandled', async () => {
    // Prepare
    await seedIdleTransactions(client, 12, ++seed);

    // Act
    const { code, stderr } = await cli(runArgs('stdout'), { closedStdout: true });

    // Assess
    assert.equal(code, 3, stderr.slice(-3000));
    assert.doesNotMatch(stderr, /Unhandled|node:events/);
    // Sessions whose kills failed in the tests before are killed now too: counts come from the summary.
    const logged = undeliveredEvents(stderr);
    const summary = logged.filter((e) => e.detailType === 'Reaper Run Completed');
    assert.equal(summary.length, 1);
    const killed = (summary[0]!.detail.counts as { killed: number }).killed;
    assert.ok(killed >= 12, `killed ${killed}`);
    assert.equal(logged.filter((e) => e.detailType === 'Session Killed').length, killed);
    assert.match(stderr, new RegExp(`session-reaper run: ${killed + 1} of ${killed + 1} audit events could not be delivered`));
  });

  it('a closed stdout with the audit going to a file: the report is dropped, the pass still exits 0', async () => {
    // Prepare
    await seedIdleTransactions(client, 3, ++seed);
    const path = auditFile();

    // Act
    const { code, stderr } = await cli(runArgs(`file:${path}`), { closedStdout: true });

    // Assess
    assert.equal(code, 0, stderr);
    assert.equal(readAudit(path).filter((e) => e['detail-type'] === 'Session Killed').length, 3);
  });

  it('the pass fails after its kills and the audit is undeliverable: exit 3, both problems on stderr', async () => {
    // Prepare: the inventory's three aggregates and the kill batch's re-check pass, the verification's $currentOp fails.
    await seedIdleTransactions(client, 12, ++seed);
    await failPoint({ skip: 4 }, { failCommands: ['aggregate'], errorCode: 13 });

    // Act
    const { code, stderr } = await cli(runArgs('stdout'), { closedStdout: true });
    await failPoint('off');

    // Assess
    assert.equal(code, 3, stderr.slice(-3000));
    assert.match(stderr, /session-reaper run: the pass failed: .*Failing command via 'failCommand' failpoint/);
    const logged = undeliveredEvents(stderr);
    assert.match(stderr, new RegExp(`session-reaper run: ${logged.length} of ${logged.length} audit events could not be delivered`));
    const summary = logged.find((e) => e.detailType === 'Reaper Run Completed')!;
    assert.ok((summary.detail.counts as { killed: number }).killed >= 12);
    assert.match((summary.detail.error as { message: string }).message, /failCommand/);
  });
});
