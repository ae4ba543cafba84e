/**
 * Record and replay, end to end on the stand-in: a dry-run pass over the demo workload (real driver
 * connections as several users, access control on) is recorded through the recording port; a backtest of the
 * snapshot, which never connects, makes exactly the decisions that pass made. The pass's clock is injected
 * (a minute ahead) instead of waiting for sessions to grow idle.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { readFileSync } from 'node:fs';
import { MongoAdapter } from '../src/adapters/mongodb/adapter.ts';
import { InMemoryAuditSink } from '../src/adapters/audit-sinks.ts';
import { SnapshotFile } from '../src/adapters/snapshot/reader.ts';
import { RecordingMongoPort } from '../src/adapters/snapshot/recording-port.ts';
import { SnapshotWriter } from '../src/adapters/snapshot/writer.ts';
import { runPass, type RunReport } from '../src/pass/pass.ts';
import { loadPolicySet } from '../src/pass/policy/load.ts';
import type { PolicySet } from '../src/pass/policy/types.ts';
import { DEFAULT_POLICIES_DIR } from '../src/service/config.ts';
import { startWorkload, type Workload } from '../src/demo/workload.ts';
import { startTarget, type Target } from '../standin/test/target.ts';
import { assertDecidesAsRecorded, backtestFile } from './support/snapshots.ts';

/** The default set plus a rule on idle time, so that the injected clock gives every kind of outcome. */
export function policiesWithIdleRule(): string {
  const dir = mkdtempSync(join(tmpdir(), 'policies-'));
  cpSync(DEFAULT_POLICIES_DIR, dir, { recursive: true });
  writeFileSync(join(dir, 'idle.json'), JSON.stringify({
    version: 1,
    rules: [{
      name: 'idle-session', priority: 5,
      conditions: { all: [{ fact: 'idleSeconds', operator: 'greaterThan', value: 30 }, { fact: 'target', operator: 'equal', value: 'session' }] },
      event: { type: 'kill', params: { reason: 'session idle for more than 30s' } },
    }],
  }));
  return dir;
}

const AHEAD_MS = 60_000;

describe('a snapshot recorded by a dry-run pass, backtested', () => {
  let target: Target;
  let workload: Workload;
  let policy: PolicySet;
  let recorded: RunReport;
  let file: string;

  before(async () => {
    // Prepare: the demo workload, and a dry-run pass recorded to a file.
    target = await startTarget('stand-in', { auth: true });
    workload = await startWorkload({ adminUri: target.adminUri, uriFor: (u, p) => target.standin!.uriFor(u, p) });
    policy = await loadPolicySet(policiesWithIdleRule(), { overrides: { idleTransactionSeconds: 1, runawayOperationSeconds: 2, staleCursorIdleSeconds: 1 } });
    file = join(mkdtempSync(join(tmpdir(), 'snap-')), 'pass.jsonl.gz');
    const adapter = await MongoAdapter.connect(workload.reaperUri);
    const recorder = new RecordingMongoPort(adapter, await SnapshotWriter.toFile(file, { keepValues: false }), { uri: workload.reaperUri, recordedBy: 'run' });
    try {
      recorded = await runPass(recorder, policy, new InMemoryAuditSink(), {
        cluster: 'rt', trigger: { type: 'cli' }, dryRun: true, maxKills: 100, maxKillShare: 1, batchSize: 100, concurrency: 1,
        source: 'mongodb.session-reaper', now: recorder.clock(() => Date.now() + AHEAD_MS),
      });
      await recorder.close();
    } finally {
      await adapter.close();
    }
  });
  after(async () => {
    await workload?.close();
    await target?.stop();
  });

  test('the recorded pass decided something of every kind', () => {
    assert.equal(recorded.error, null);
    const outcomes = new Set(recorded.decisions.map((d) => d.outcome));
    for (const o of ['planned', 'skipped', 'protected']) assert.ok(outcomes.has(o as never), `a ${o} decision: ${[...outcomes].join(', ')}`);
  });

  test('the backtest makes the same decisions, at the snapshot\'s time, without a server', async () => {
    // Act
    const { report, snapshot } = await backtestFile(file, policy);
    // Assess
    assertDecidesAsRecorded(report, recorded);
    assert.equal(report.internalOps, recorded.internalOps);
    assert.equal(snapshot.header.takenAtMs, Date.parse(recorded.startedAt) >= 0 ? snapshot.header.takenAtMs : NaN);
    assert.ok(Math.abs(snapshot.header.takenAtMs - Date.parse(recorded.startedAt)) < 10_000, 'the snapshot\'s time is the pass\'s clock');
    assert.deepEqual(snapshot.notes, []);
  });

  test('the header names the member, the topology and the reaper, without credentials', async () => {
    const snapshot = await SnapshotFile.open(file);
    await snapshot.close();
    const { header } = snapshot;
    assert.equal(header.members.length, 1);
    assert.match(header.members[0]!.name, /^127\.0\.0\.1:\d+$/);
    assert.equal(header.topology.kind, 'replicaSet');
    assert.equal(header.redaction.values, 'redacted');
    assert.match(header.reaper.user, /^reaper@admin$/);
    const text = gunzipSync(readFileSync(file)).toString('utf8');
    assert.ok(!text.includes('demo-password'), 'no password anywhere in the file');
    assert.match(header.source.uri, /\*\*\*:\*\*\*@/);
  });
});
