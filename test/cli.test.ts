/**
 * The `session-reaper` command as an operator runs it: a separate process, real flags, exit codes,
 * against the stand-in. Configuration and redaction are checked here too.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MongoClient } from 'mongodb';
import { startStandin, type RunningStandin } from '../standin/src/server.ts';
import { LaggingClock } from '../standin/src/clock.ts';
import { resolveConfig } from '../src/service/config.ts';
import { ConfigError } from '../src/util/errors.ts';
import { redactUri } from '../src/util/redact.ts';
import { runCli as cli } from './support/cli.ts';

/** A leaf condition inside `levels` nested "not"s. */
function nested(levels: number): unknown {
  let node: unknown = { fact: 'appName', operator: 'equal', value: 'x' };
  for (let i = 0; i < levels; i++) node = { not: node };
  return node;
}

const POLICIES = fileURLToPath(new URL('../policies', import.meta.url));


describe('session-reaper run', () => {
  let standin: RunningStandin;
  let client: MongoClient;
  before(async () => {
    standin = await startStandin();
    client = new MongoClient(standin.uri);
    await client.connect();
  });
  after(async () => {
    await client?.close();
    await standin?.stop();
  });

  it('--json prints the run report; threshold flags reach the policy; the idle rule waits for a second sighting in --state', async (t) => {
    // Prepare: a transaction left idle for 1.2 s, on a stand-in whose clock runs behind until the test lets the
    // time pass (the CLI, another process, reads the real clock).
    const clock = new LaggingClock(1200);
    const lagging = await startStandin({ clock });
    const client = new MongoClient(lagging.uri);
    t.after(async () => {
      await client.close();
      await lagging.stop();
    });
    const session = client.startSession();
    session.startTransaction();
    await client.db('shop').collection('orders').insertOne({ a: 1 }, { session });
    clock.skip(1200);
    const dir = mkdtempSync(join(tmpdir(), 'cli-'));
    const auditFile = join(dir, 'audit.jsonl');
    const state = join(dir, 'state', 'sightings.json');
    const run = () => cli(['run', '--uri', lagging.uri, '--dry-run', '--json', '--idle-txn-seconds', '1', '--audit', `file:${auditFile}`, '--state', state]);
    // Act: the first pass only notes the idle transaction (minSightings 2), the second plans its kill
    const first = await run();
    assert.equal(first.code, 0, first.stderr);
    assert.equal(JSON.parse(first.stdout).counts.planned, 0, 'the first sighting plans nothing');
    const { code, stdout, stderr } = await run();
    // Assess
    assert.equal(code, 0, stderr);
    const report = JSON.parse(stdout);
    const planned = report.decisions.filter((d: { outcome: string }) => d.outcome === 'planned');
    assert.equal(planned.length, 1);
    assert.equal(planned[0].rule, 'idle-transaction');
    assert.equal(planned[0].sessionId, session.id!.id.toUUID().toString());
    assert.match(planned[0].uid, /^[0-9a-f]{64}$/);
    assert.ok(report.runId && report.counts.planned === 1);
    const lines = readFileSync(auditFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(lines.map((l) => l['detail-type']), ['Reaper Run Completed', 'Session Kill Planned', 'Reaper Run Completed']);
    assert.equal(lines[1].detail.facts.sightings, 2);
    await session.abortTransaction();
    await session.endSession();
  });

  it('prints an aligned table and a summary by default', async () => {
    const { code, stdout } = await cli(['run', '--uri', standin.uri, '--dry-run', '--audit', `file:${join(mkdtempSync(join(tmpdir(), 'cli-')), 'a.jsonl')}`]);
    assert.equal(code, 0);
    assert.match(stdout, /^OUTCOME\s+RULE\s+USER\s+APP\s+SESSION\s+HOLDS\s+WHY$/m);
    assert.match(stdout, /^SUMMARY/m);
    assert.match(stdout, /^sessions\s+\d+$/m);
  });

  it('a bad policy aborts the pass before anything is read or killed, naming file, rule and field', async () => {
    // Prepare
    const dir = mkdtempSync(join(tmpdir(), 'policy-'));
    writeFileSync(join(dir, 'p.json'), JSON.stringify({ version: 1, rules: [{ name: 'r1', conditions: { all: [{ fact: 'idleSecs', operator: 'greaterThan', value: 1 }] }, event: { type: 'kill', params: { reason: 'x' } } }] }));
    // Act
    const { code, stderr } = await cli(['run', '--uri', standin.uri, '--policies', dir]);
    // Assess
    assert.equal(code, 2);
    assert.match(stderr, /p\.json/);
    assert.match(stderr, /r1/);
    assert.match(stderr, /idleSecs/);
  });

  it('a condition tree nested too deep is a bad policy: exit 2, naming file and rule, nothing read', async () => {
    // Prepare
    const dir = mkdtempSync(join(tmpdir(), 'policy-'));
    writeFileSync(join(dir, 'p.json'), JSON.stringify({ version: 1, rules: [{ name: 'deep', conditions: { all: [nested(1500)] }, event: { type: 'kill', params: { reason: 'x' } } }] }));
    // Act
    const { code, stderr } = await cli(['run', '--uri', 'mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=300', '--policies', dir]);
    // Assess
    assert.equal(code, 2, stderr);
    assert.match(stderr, /p\.json, rule "deep", field conditions: conditions are nested 1502 levels deep/);
    assert.doesNotMatch(stderr, /call stack|cannot connect/);
  });

  it('a hostile appName against a nested-quantifier regex does not stall the pass', async () => {
    // Prepare: ^(a+)+$ takes a backtracking engine 2^127 steps on 127 a's and a "!" (appName is at
    // most 128 bytes); a session whose appName does match, to show the rule works.
    const dir = mkdtempSync(join(tmpdir(), 'policy-'));
    writeFileSync(join(dir, 'p.json'), JSON.stringify({ version: 1, rules: [{ name: 'only-as', conditions: { all: [{ fact: 'appName', operator: 'matchesRegex', value: '^(a+)+$' }] }, event: { type: 'report', params: { reason: 'all a' } } }] }));
    const clients = [new MongoClient(standin.uri, { appName: `${'a'.repeat(127)}!` }), new MongoClient(standin.uri, { appName: 'aaaa' })];
    const sessions = await Promise.all(clients.map(async (c) => {
      await c.connect();
      // An idle transaction: $currentOp lists the session with its client's appName.
      const s = c.startSession();
      s.startTransaction();
      await c.db('shop').collection('orders').insertOne({ a: 1 }, { session: s });
      return s;
    }));
    try {
      // Act (the kill timer only guards against a hang: the pass takes a second or two)
      const { code, stdout, stderr } = await cli(['run', '--uri', standin.uri, '--policies', dir, '--dry-run', '--json', '--audit', 'stdout'], {}, 60_000);
      // Assess
      assert.equal(code, 0, stderr);
      const report = JSON.parse(stdout);
      assert.deepEqual(report.decisions.map((d: { appName: string; outcome: string }) => [d.appName, d.outcome]), [['aaaa', 'reported']]);
    } finally {
      for (const s of sessions) {
        await s.abortTransaction();
        await s.endSession();
      }
      await Promise.all(clients.map((c) => c.close()));
    }
  });

  it('an unknown option is refused with the threshold flags of the policy set', async () => {
    const { code, stderr } = await cli(['run', '--uri', standin.uri, '--idle-minutes', '5']);
    assert.equal(code, 2);
    assert.match(stderr, /unknown option --idle-minutes/);
    assert.match(stderr, /--idle-txn-seconds/);
  });

  it('a connection failure is reported without the password', async () => {
    const { code, stderr } = await cli(['run', '--uri', 'mongodb://admin:s3cret@127.0.0.1:1/?serverSelectionTimeoutMS=300']);
    assert.equal(code, 1);
    assert.doesNotMatch(stderr, /s3cret/);
    assert.match(stderr, /cannot connect to mongodb:\/\/\*\*\*:\*\*\*@127\.0\.0\.1:1/);
  });
});

describe('session-reaper policies check', () => {
  it('accepts the default set and lists its rules and threshold flags', async () => {
    const { code, stdout } = await cli(['policies', 'check', POLICIES]);
    assert.equal(code, 0);
    assert.match(stdout, /15 rules in 1 file\(s\) are valid/);
    assert.match(stdout, /--idle-txn-seconds/);
  });

  it('lists every problem of a bad set and exits 1', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'policy-'));
    writeFileSync(join(dir, 'a.json'), '{ "version": 1, "rules": [ }');
    writeFileSync(join(dir, 'b.json'), JSON.stringify({ version: 1, rules: [{ name: 'x', conditions: { all: [{ fact: 'opCount', operator: 'bigger', value: 1 }] }, event: { type: 'kill', params: { reason: 'r' } } }] }));
    const { code, stderr } = await cli(['policies', 'check', dir]);
    assert.equal(code, 1);
    assert.match(stderr, /a\.json/);
    assert.match(stderr, /b\.json.*rule "x".*bigger/);
  });

  it('a condition tree nested too deep, or a regex RE2 cannot express: exit 1, naming file, rule and field', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'policy-'));
    writeFileSync(join(dir, 'a.json'), JSON.stringify({ version: 1, rules: [{ name: 'deep', conditions: { all: [nested(1500)] }, event: { type: 'kill', params: { reason: 'r' } } }] }));
    writeFileSync(join(dir, 'b.json'), JSON.stringify({ version: 1, rules: [{ name: 'look', conditions: { all: [{ fact: 'appName', operator: 'matchesRegex', value: 'mongo(?!sh)' }] }, event: { type: 'kill', params: { reason: 'r' } } }] }));
    const { code, stderr } = await cli(['policies', 'check', dir]);
    assert.equal(code, 1, stderr);
    assert.match(stderr, /a\.json, rule "deep", field conditions: conditions are nested 1502 levels deep, more than the limit of 32/);
    assert.match(stderr, /b\.json, rule "look", field conditions\.all\[0\]\.value: value uses a lookahead \(\?!\.\.\.\), which policy regexes do not support/);
  });
});

describe('configuration', () => {
  it('flags win over the environment, which wins over defaults', () => {
    const c = resolveConfig({ 'max-kills': '5' }, { MONGODB_URI: 'mongodb://h:1', REAPER_MAX_KILLS: '7', REAPER_BATCH_SIZE: '100' });
    assert.equal(c.maxKills, 5);
    assert.equal(c.batchSize, 100);
    assert.equal(c.maxKillShare, 0.25);
    assert.equal(c.cluster, 'h:1');
    assert.equal(c.auditTimeoutSeconds, 30);
    assert.equal(c.auditRequestTimeoutSeconds, 5);
    assert.equal(resolveConfig({ 'audit-timeout': '2' }, { MONGODB_URI: 'mongodb://h', REAPER_AUDIT_TIMEOUT_SECONDS: '9' }).auditTimeoutSeconds, 2);
    assert.equal(resolveConfig({}, { MONGODB_URI: 'mongodb://h', REAPER_AUDIT_TIMEOUT_SECONDS: '9' }).auditTimeoutSeconds, 9);
  });

  it('an invalid value names the setting and what it accepts', () => {
    assert.throws(() => resolveConfig({}, { MONGODB_URI: 'mongodb://h', REAPER_MAX_KILL_SHARE: '2' }), (e: Error) => e instanceof ConfigError && /REAPER_MAX_KILL_SHARE must be a fraction from 0 to 1/.test(e.message));
    assert.throws(() => resolveConfig({ 'batch-size': '0' }, { MONGODB_URI: 'mongodb://h' }), /--batch-size must be a whole number from 1 to 50000/);
    assert.throws(() => resolveConfig({ 'audit-timeout': '0' }, { MONGODB_URI: 'mongodb://h' }), /--audit-timeout must be a whole number from 1 to 900, got "0"/);
    assert.throws(() => resolveConfig({}, {}), /pass --uri or set MONGODB_URI/);
    assert.throws(() => resolveConfig({}, { MONGODB_URI: 'postgres://u:pw@h' }), (e: Error) => !/pw/.test(e.message));
  });

  it('connection strings are redacted wherever they are printed', () => {
    assert.equal(redactUri('failed: mongodb+srv://app:p%40ss@c0.example.net/db?password=x&w=1'), 'failed: mongodb+srv://***:***@c0.example.net/db?password=***&w=1');
    assert.equal(redactUri('mongodb://h1,h2/?replicaSet=rs'), 'mongodb://h1,h2/?replicaSet=rs');
  });
});
