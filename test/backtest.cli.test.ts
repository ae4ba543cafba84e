/**
 * The record / backtest / compare workflow as an operator runs it: the built `session-reaper` command in its
 * own process, against the stand-in over TCP.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { FindCursor } from 'mongodb';
import type { DecisionDifference } from '../src/pass/backtest.ts';
import type { DecisionRow } from '../src/pass/pass.ts';
import { DEFAULT_POLICIES_DIR } from '../src/service/config.ts';
import { startWorkload, type Workload } from '../src/demo/workload.ts';
import { startTarget, type Target } from '../standin/test/target.ts';
import { runCli as cli } from './support/cli.ts';

const tmp = () => mkdtempSync(join(tmpdir(), 'backtest-cli-'));
const BIN = fileURLToPath(new URL('../bin/session-reaper.mjs', import.meta.url));

describe('run --record, then backtest', () => {
  let target: Target;
  let workload: Workload;
  before(async () => {
    target = await startTarget('stand-in', { auth: true });
    workload = await startWorkload({ adminUri: target.adminUri, uriFor: (u, p) => target.standin!.uriFor(u, p) });
  });
  after(async () => {
    await workload?.close();
    await target?.stop();
  });

  test('the backtest of the recorded snapshot makes the dry-run pass\'s decisions; the file has no password', async () => {
    // Prepare
    const dir = tmp();
    const file = join(dir, 'pass.jsonl.gz');
    // Act
    const run = await cli(['run', '--uri', workload.reaperUri, '--dry-run', '--record', file, '--json', '--audit', `file:${join(dir, 'audit.jsonl')}`]);
    const backtest = await cli(['backtest', '--json', file]);
    // Assess
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /recorded \d+ documents in 3 sections to /);
    assert.equal(backtest.code, 0, backtest.stderr);
    const report = JSON.parse(run.stdout);
    const result = JSON.parse(backtest.stdout);
    assert.ok(report.decisions.length >= 3, 'the workload gives the pass decisions to make');
    assert.deepEqual(result.snapshots[0].a.decisions, report.decisions);
    assert.deepEqual(result.snapshots[0].a.counts, report.counts);
    assert.ok(!gunzipSync(readFileSync(file)).toString('utf8').includes('demo-password'));
    // The default set's idle rules wait for two sightings: a backtest of one snapshot says they cannot act.
    assert.match(backtest.stderr, /note: .* sets minSightings 2: each snapshot is decided as a first sighting, .* add --min-sightings 1/);
    const once = await cli(['backtest', '--json', '--min-sightings', '1', file]);
    assert.equal(once.code, 0, once.stderr);
    assert.doesNotMatch(once.stderr, /note:/);
  });

  test('--keep-values without --record is a usage error', async () => {
    const r = await cli(['run', '--uri', workload.reaperUri, '--keep-values']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--keep-values only applies to --record FILE/);
  });
});

describe('snapshot: redaction', () => {
  let target: Target;
  let cursor: FindCursor;
  let uri: string;
  const SSN = 'SSN-078-05-1120';
  const COMMENT = 'ticket-4711-confidential';
  before(async () => {
    // Prepare: a client whose open cursor carries a filter with customer data and a comment.
    target = await startTarget('stand-in', { auth: true });
    const app = await target.createUser('crm', [{ role: 'readWrite', db: 'crm' }]);
    const admin = await target.client();
    await admin.db('crm').collection('people').insertMany([{ ssn: SSN, n: 1 }, { ssn: SSN, n: 2 }, { ssn: SSN, n: 3 }]);
    const client = await target.client(app.uri, { appName: 'crm-app' });
    cursor = client.db('crm').collection('people').find({ ssn: SSN, n: { $gte: 1 } }, { batchSize: 1, comment: COMMENT });
    await cursor.next();
    uri = (await target.createUser('snapshotter', [{ role: 'clusterMonitor', db: 'admin' }])).uri;
  });
  after(async () => {
    await cursor?.close().catch(() => {});
    await target?.stop();
  });

  test('by default no value of the filter and no password is in the file; names, shapes and the facts\' values (the comment) are', async () => {
    const file = join(tmp(), 's.jsonl.gz');
    const r = await cli(['snapshot', '--uri', uri, '--out', file]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /values redacted/);
    const text = gunzipSync(readFileSync(file)).toString('utf8');
    for (const secret of [SSN, new URL(uri.replace('mongodb:', 'http:')).password]) assert.ok(!text.includes(secret), `${secret} is not in the snapshot`);
    assert.ok(!r.stdout.includes(new URL(uri.replace('mongodb:', 'http:')).password) && !r.stderr.includes('pw-'));
    const cursorDoc = text.trim().split('\n').map((l) => JSON.parse(l)).find((d) => d.type === 'idleCursor');
    assert.equal(cursorDoc.ns, 'crm.people');
    assert.deepEqual(cursorDoc.cursor.originatingCommand.filter, { ssn: '<redacted:string>', n: { $gte: '<redacted:int>' } });
    // The comment is a fact (comments, matched by policies): kept, so a backtest decides as the pass did.
    assert.equal(cursorDoc.cursor.originatingCommand.comment, COMMENT);
    assert.ok(cursorDoc.cursor.lastAccessDate.$date, 'the facts\' fields keep their values');
  });

  test('--keep-values keeps the filter\'s values, and still no password', async () => {
    const file = join(tmp(), 'k.jsonl.gz');
    const r = await cli(['snapshot', '--uri', uri, '--out', file, '--keep-values']);
    assert.equal(r.code, 0, r.stderr);
    const text = gunzipSync(readFileSync(file)).toString('utf8');
    assert.ok(text.includes(SSN));
    assert.ok(!text.includes(new URL(uri.replace('mongodb:', 'http:')).password));
  });

  test('a bad --out names the file and reads nothing', async () => {
    const r = await cli(['snapshot', '--uri', uri, '--out', '/nonexistent-dir/s.jsonl.gz']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /cannot create the snapshot file \/nonexistent-dir\/s\.jsonl\.gz: .*give a path in a directory that exists/);
  });
});

describe('backtest --compare', () => {
  let target: Target;
  let file: string;
  let dirB: string;
  before(async () => {
    // Prepare: 3,000 synthetic sessions (ops running 10-600 s, idle transactions, cursors), recorded once.
    target = await startTarget('stand-in', {});
    const admin = await target.client();
    await admin.db('admin').command({
      standinBulkCreateSessions: 3000, appNames: ['orders-api', 'billing', 'mongodump'], seed: 7,
      lastUseAgeSeconds: { min: 0, max: 1800 }, runningOps: 300, opSecondsRunning: { min: 10, max: 600 },
      idleTransactions: 60, txnInactiveSeconds: { min: 30, max: 600 }, cursors: 300, cursorIdleSeconds: { min: 300, max: 1800 },
    });
    file = join(tmp(), 'bulk.jsonl.gz');
    const r = await cli(['snapshot', '--uri', target.adminUri, '--out', file]);
    assert.equal(r.code, 0, r.stderr);
    // B: the default set with one threshold raised (runaway operations: 300 s -> 500 s) and one protection added (billing).
    dirB = tmp();
    cpSync(DEFAULT_POLICIES_DIR, dirB, { recursive: true });
    const set = JSON.parse(readFileSync(join(dirB, 'default.json'), 'utf8'));
    set.parameters.runawayOperationSeconds.default = 500;
    set.rules.push({ name: 'billing-jobs', priority: 100, conditions: { all: [{ fact: 'appName', operator: 'equal', value: 'billing' }] }, event: { type: 'protect', params: { reason: 'billing batch jobs are never killed' } } });
    writeFileSync(join(dirB, 'default.json'), JSON.stringify(set));
  });
  after(async () => {
    await target?.stop();
  });

  test('shows exactly the sessions the threshold or the protection decides differently, both decisions side by side', async () => {
    // Act
    const r = await cli(['backtest', '--json', '--policies', DEFAULT_POLICIES_DIR, '--compare', dirB, file]);
    // Assess
    assert.equal(r.code, 0, r.stderr);
    const snapshot = JSON.parse(r.stdout).snapshots[0];
    const differences: DecisionDifference[] = snapshot.differences;
    const seconds = (d: { holds: string }) => Number(/\d+ ops? (\d+)s/.exec(d.holds)?.[1]);
    const byThreshold = differences.filter((d) => d.appName !== 'billing');
    const byProtection = differences.filter((d) => d.appName === 'billing');
    // The threshold: exactly the sessions outside billing running 301-500 s that A's runaway rule matched. A kills
    // them and B leaves them alone; or, for the protected backup tool, A skips a kill a protection overrode and
    // B has only the protection left.
    const runawayMatched = (d: DecisionRow) => (d.outcome === 'planned' && d.rule === 'runaway-operation') || (d.outcome === 'skipped' && (d.why ?? '').includes('kill rule "runaway-operation"'));
    const expected = (snapshot.a.decisions as DecisionRow[]).filter((d) => d.appName !== 'billing' && seconds(d) <= 500 && runawayMatched(d));
    assert.ok(expected.some((d) => d.outcome === 'planned') && expected.some((d) => d.outcome === 'skipped'));
    assert.deepEqual(byThreshold.map((d) => d.sessionId).sort(), expected.map((d) => d.sessionId).sort());
    for (const d of byThreshold) {
      if (d.a.outcome === 'planned') {
        assert.deepEqual([d.a.rule, d.b.outcome], ['runaway-operation', 'none']);
        assert.equal(d.a.reason, 'operation running for more than 300s');
      } else {
        assert.deepEqual([d.a.outcome, d.b.outcome, d.b.rule], ['skipped', 'protected', d.a.rule]);
      }
    }
    // The protection: every billing session some rule concerns, now protected by billing-jobs.
    assert.ok(byProtection.length > 0);
    for (const d of byProtection) {
      assert.equal(d.b.rule, 'billing-jobs');
      assert.ok(d.b.outcome === 'protected' || d.b.outcome === 'skipped');
      if (d.b.outcome === 'skipped') assert.match(d.b.why ?? '', /^protected by rule "billing-jobs"/);
    }
    const bBilling = (snapshot.b.decisions as DecisionRow[]).filter((d) => d.appName === 'billing');
    assert.ok(bBilling.every((d) => d.rule === 'billing-jobs'), 'no billing session is killed by B');
    // Everything else is decided alike: the kills over 500 s outside billing are in both and not listed.
    const kept = (snapshot.b.decisions as DecisionRow[]).filter((d) => d.outcome === 'planned');
    assert.ok(kept.length > 0 && kept.every((d) => !differences.some((x) => x.sessionId === d.sessionId && x.b.outcome === 'planned' && x.a.outcome === 'planned')));
    assert.equal(JSON.parse(r.stdout).totals.differences, differences.length);
  });

  test('the table names both sets and puts both decisions on one line', async () => {
    const r = await cli(['backtest', '--policies', DEFAULT_POLICIES_DIR, '--compare', dirB, file]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^A = .*policies$/m);
    assert.match(r.stdout, /^SESSION\s+USER\s+APP\s+HOLDS\s+A: DECISION\s+B: DECISION\s+A: WHY\s+B: WHY$/m);
    assert.match(r.stdout, /planned runaway-operation\s+none \(no rule matched\)\s+operation running for more than 300s\s+-$/m);
    assert.match(r.stdout, /^sessions decided differently\s+\d+$/m);
  });

  test('threshold flags apply as in run: the same threshold on both sides leaves only the protection', async () => {
    const r = await cli(['backtest', '--json', '--compare', dirB, '--runaway-op-seconds', '400', file]);
    assert.equal(r.code, 0, r.stderr);
    const differences: DecisionDifference[] = JSON.parse(r.stdout).snapshots[0].differences;
    assert.ok(differences.length > 0);
    assert.ok(differences.every((d) => d.b.rule === 'billing-jobs'), 'both sets run at 400 s');
    const unknown = await cli(['backtest', '--compare', dirB, '--idle-seconds', '5', file]);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown option --idle-seconds; threshold flags of .* and .*: --idle-txn-seconds, --runaway-op-seconds, --stale-cursor-seconds/);
  });

  test('several snapshots are decided in worker threads and reported in the order given, as one thread does', async () => {
    const threads = await cli(['backtest', '--json', '--jobs', '2', file, file, file]);
    const one = await cli(['backtest', '--json', '--jobs', '1', file, file, file]);
    assert.equal(threads.code, 0, threads.stderr);
    assert.deepEqual(JSON.parse(threads.stdout), JSON.parse(one.stdout));
    assert.equal(JSON.parse(threads.stdout).totals.snapshots, 3);
    const bad = await cli(['backtest', '--jobs', '0', file]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--jobs must be a whole number from 1 to 64, got "0"/);
  });

  test('a reader that goes away (backtest | head) ends the backtest quietly, with its exit code', async () => {
    // Act: the output's reader takes the first line and closes the pipe.
    const child = spawn(process.execPath, [BIN, 'backtest', '--jobs', '2', file, file, file, file], { env: { ...process.env, MONGODB_URI: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.stdout.once('data', () => child.stdout.destroy());
    const [code] = (await once(child, 'exit')) as [number];
    // Assess
    assert.equal(code, 0, stderr);
    assert.doesNotMatch(stderr, /EPIPE|Error/);
  });

  test('--evaluator json-rules-engine cross-checks the compiled evaluator: they agree', async () => {
    const r = await cli(['backtest', '--json', '--evaluator', 'json-rules-engine', file]);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.totals.disagreements, 0);
    assert.ok(out.totals.a.decisions > 100);
  });
});
