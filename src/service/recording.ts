/**
 * The reaper function's recording (REAPER_SNAPSHOT_BUCKET): each pass runs over a recording port, its snapshot
 * is kept in memory and put into S3 once the pass is done. A recording that fails is logged and never fails
 * the pass: the pass has run, its kills are audited; only the backtest material is missing.
 */
import type { MongoAdapter } from '../adapters/mongodb/adapter.ts';
import { RecordingMongoPort } from '../adapters/snapshot/recording-port.ts';
import { snapshotKey, uploadSnapshot } from '../adapters/snapshot/s3.ts';
import { SnapshotWriter } from '../adapters/snapshot/writer.ts';
import type { AuditLogger } from '../pass/audit/sink.ts';
import type { RunReport } from '../pass/pass.ts';
import type { MongoPort } from '../pass/ports.ts';
import { redactUri } from '../util/redact.ts';
import type { RunConfig } from './config.ts';

/** Runs `pass` over `mongo`, recorded into the snapshot bucket when one is configured. */
export async function withRecording(
  config: Pick<RunConfig, 'snapshotBucket' | 'snapshotPrefix'>, cluster: string, mongo: MongoAdapter, logger: AuditLogger,
  pass: (port: MongoPort, now?: () => number) => Promise<RunReport>,
): Promise<RunReport> {
  if (!config.snapshotBucket) return pass(mongo);
  const { writer, bytes } = SnapshotWriter.inMemory({ keepValues: false });
  const recorder = new RecordingMongoPort(mongo, writer, { uri: '', cluster, recordedBy: 'lambda' });
  const report = await pass(recorder, recorder.clock());
  try {
    await recorder.close();
    const takenAtMs = recorder.takenAtMs;
    if (takenAtMs === null) return report;
    const key = snapshotKey(config.snapshotPrefix, cluster, takenAtMs, report.runId);
    await uploadSnapshot({ bucket: config.snapshotBucket, key, bytes: bytes() });
    logger.debug?.(`pass ${report.runId} on ${cluster}: snapshot recorded to s3://${config.snapshotBucket}/${key}`);
  } catch (e) {
    logger.warn(`pass ${report.runId} on ${cluster}: its snapshot was not recorded (${redactUri((e as Error).message)}); the pass itself is unaffected`);
  }
  return report;
}
