/**
 * The reaper function's recording into S3 (REAPER_SNAPSHOT_BUCKET), with the real S3 client against
 * moto_server: each pass puts one snapshot into the bucket, and a backtest of it decides as the pass did; off by
 * default; a recording that cannot be stored is logged and leaves the pass alone.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { MongoClient, type ClientSession } from 'mongodb';
import { InMemoryAuditSink } from '../src/adapters/audit-sinks.ts';
import { SnapshotFile } from '../src/adapters/snapshot/reader.ts';
import { SnapshotReplayPort } from '../src/adapters/snapshot/replay-port.ts';
import { decideOffline } from '../src/pass/backtest.ts';
import { createReaper } from '../src/service/app.ts';
import { startStandin, type RunningStandin } from '../standin/src/server.ts';
import { motoAvailable, requireMoto, startMoto, type Moto } from './support/moto.ts';

const BUCKET = 'reaper-snapshots';

describe('the reaper function records each pass into S3', () => {
  let moto: Moto | null = null;
  let standin: RunningStandin;
  let client: MongoClient;
  let session: ClientSession;
  let s3: S3Client;
  const warnings: string[] = [];
  const logger = { error: (m: string) => warnings.push(m), warn: (m: string) => warnings.push(m) };

  before(async () => {
    if (!motoAvailable()) return;
    moto = await startMoto();
    moto.apply();
    s3 = new S3Client({});
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    // Prepare: a session with an open transaction and a cursor, for the pass to decide on.
    standin = await startStandin();
    client = new MongoClient(standin.uri);
    await client.connect();
    session = client.startSession();
    session.startTransaction();
    await client.db('shop').collection('orders').insertOne({ a: 1 }, { session });
  });
  after(async () => {
    await session?.abortTransaction().catch(() => {});
    await client?.close();
    await standin?.stop();
    await moto?.stop();
  });

  const keys = async (): Promise<string[]> => ((await s3.send(new ListObjectsV2Command({ Bucket: BUCKET }))).Contents ?? []).map((c) => c.Key!);

  test('one snapshot per pass, under PREFIX/CLUSTER/DAY/, and its backtest makes the pass\'s decisions', async (t) => {
    if (requireMoto(t)) return;
    // Act
    const reaper = await createReaper({ MONGODB_URI: standin.uri, REAPER_CLUSTER: 'orders', REAPER_SNAPSHOT_BUCKET: BUCKET, REAPER_IDLE_TXN_SECONDS: '1' }, logger, { sink: new InMemoryAuditSink() });
    const report = await reaper.runOnce({ type: 'manual', id: 'test' }, { dryRun: true }).finally(() => reaper.close());
    // Assess
    assert.equal(report.error, null);
    const found = (await keys()).filter((k) => k.endsWith(`-${report.runId}.jsonl.gz`));
    assert.equal(found.length, 1);
    assert.match(found[0]!, /^snapshots\/orders\/\d{4}\/\d{2}\/\d{2}\/\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z-[0-9a-f-]{36}\.jsonl\.gz$/);
    const object = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: found[0]! }));
    const file = join(mkdtempSync(join(tmpdir(), 's3-')), 'snapshot.jsonl.gz');
    writeFileSync(file, await object.Body!.transformToByteArray());
    const snapshot = await SnapshotFile.open(file);
    assert.equal(snapshot.header.source.recordedBy, 'lambda');
    assert.equal(snapshot.header.source.cluster, 'orders');
    assert.equal(snapshot.header.redaction.values, 'redacted');
    const replay = new SnapshotReplayPort(snapshot);
    const again = await decideOffline(replay, reaper.policySet('default'), { nowMs: replay.nowMs, maxKills: reaper.config.maxKills, maxKillShare: reaper.config.maxKillShare });
    assert.deepEqual(again.decisions, report.decisions);
    assert.ok(report.decisions.length > 0);
  });

  test('off by default: no setting, no snapshot', async (t) => {
    if (requireMoto(t)) return;
    const before = (await keys()).length;
    const reaper = await createReaper({ MONGODB_URI: standin.uri }, logger, { sink: new InMemoryAuditSink() });
    assert.equal(reaper.config.snapshotBucket, '');
    const report = await reaper.runOnce({ type: 'manual' }, { dryRun: true }).finally(() => reaper.close());
    assert.equal(report.error, null);
    assert.equal((await keys()).length, before);
  });

  test('a snapshot that cannot be stored is logged; the pass is unaffected', async (t) => {
    if (requireMoto(t)) return;
    warnings.length = 0;
    const reaper = await createReaper({ MONGODB_URI: standin.uri, REAPER_SNAPSHOT_BUCKET: 'no-such-bucket' }, logger, { sink: new InMemoryAuditSink() });
    const report = await reaper.runOnce({ type: 'manual' }, { dryRun: true }).finally(() => reaper.close());
    assert.equal(report.error, null);
    // Besides the start-up warning that sightings stay in memory without REAPER_STATE_TABLE: one for the snapshot.
    const about = warnings.filter((w) => w.includes('snapshot'));
    assert.equal(about.length, 1, warnings.join('\n'));
    assert.match(about[0]!, new RegExp(`^pass ${report.runId} on .*: its snapshot was not recorded \\(cannot put the snapshot into s3://no-such-bucket/snapshots/.*; check REAPER_SNAPSHOT_BUCKET and the function role's s3:PutObject on it\\); the pass itself is unaffected$`));
  });
});
