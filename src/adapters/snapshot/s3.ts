/**
 * The Lambda's snapshot recording goes to S3 (REAPER_SNAPSHOT_BUCKET, off by default): the snapshot of each
 * pass is written into memory (compressed: ~4 MB per 100,000 sessions) while the pass runs, and put into the
 * bucket once the pass is done, one object per pass. The bucket (infra/snapshots.yml) expires them after
 * SnapshotRetentionDays. The S3 SDK is loaded on the first upload, so a deployment without recording does not
 * pay for it at cold start.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { SnapshotError } from '../../util/errors.ts';

export interface SnapshotUpload {
  bucket: string;
  key: string;
  bytes: Buffer;
}

let client: Promise<{ s3: S3Client; PutObjectCommand: typeof import('@aws-sdk/client-s3').PutObjectCommand }> | null = null;

/** The key of a pass's snapshot: PREFIX CLUSTER/YYYY/MM/DD/TIME-RUNID.jsonl.gz (sortable by time, one per pass). */
export function snapshotKey(prefix: string, cluster: string, takenAtMs: number, runId: string): string {
  const iso = new Date(takenAtMs).toISOString();
  const day = iso.slice(0, 10).replace(/-/g, '/');
  return `${prefix}${encodeURIComponent(cluster)}/${day}/${iso.replace(/[:.]/g, '-')}-${runId}.jsonl.gz`;
}

export async function uploadSnapshot(upload: SnapshotUpload): Promise<void> {
  client ??= import('@aws-sdk/client-s3').then(({ S3Client, PutObjectCommand }) => ({ s3: new S3Client({}), PutObjectCommand }));
  const { s3, PutObjectCommand } = await client;
  try {
    await s3.send(new PutObjectCommand({ Bucket: upload.bucket, Key: upload.key, Body: upload.bytes, ContentType: 'application/gzip' }));
  } catch (e) {
    throw new SnapshotError(`cannot put the snapshot into s3://${upload.bucket}/${upload.key}: ${(e as Error).message}; check REAPER_SNAPSHOT_BUCKET and the function role's s3:PutObject on it`, { cause: e });
  }
}
