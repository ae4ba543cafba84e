/**
 * The replay port decoding a snapshot once for several passes (--compare, the cross-check): the second pass
 * reads the records the first decoded, not the file, and decides exactly as a pass over a fresh read.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SnapshotFile } from '../src/adapters/snapshot/reader.ts';
import { SnapshotReplayPort } from '../src/adapters/snapshot/replay-port.ts';
import type { ListingSource } from '../src/adapters/snapshot/format.ts';
import { decideOffline } from '../src/pass/backtest.ts';
import { loadPolicySet } from '../src/pass/policy/load.ts';
import { DEFAULT_POLICIES_DIR } from '../src/service/config.ts';
import { listed, runningOp, writeSnapshot } from './support/snapshots.ts';

test('with keepDecoded, a second pass reads no line of the file and decides as a fresh read does', async () => {
  // Prepare: a runaway operation, its session, and idle sessions.
  const file = join(mkdtempSync(join(tmpdir(), 'replay-')), 'kept.jsonl.gz');
  const busy = randomUUID();
  await writeSnapshot(file, {
    currentOp: [runningOp(busy, 900, 41), runningOp(null, 1200, 42)],
    listLocalSessions: [listed(busy, 0)],
    listSessions: [listed(busy, 0), ...Array.from({ length: 50 }, () => listed(randomUUID(), 7200))],
  });
  const policy = await loadPolicySet(DEFAULT_POLICIES_DIR);
  const snapshot = await SnapshotFile.open(file);
  const reads: ListingSource[] = [];
  const counted = Object.assign(Object.create(snapshot) as SnapshotFile, {
    documents(source: ListingSource) {
      reads.push(source);
      return snapshot.documents(source);
    },
  });
  try {
    const opts = { nowMs: snapshot.header.takenAtMs, maxKills: 100, maxKillShare: 1 };
    const kept = new SnapshotReplayPort(counted, { keepDecoded: true });
    // Act
    const first = await decideOffline(kept, policy, opts);
    const second = await decideOffline(kept, policy, opts);
    const fresh = await decideOffline(new SnapshotReplayPort(snapshot), policy, opts);
    // Assess
    assert.deepEqual(reads, ['currentOp', 'listLocalSessions', 'listSessions'], 'each listing read from the file once');
    assert.equal(first.error, null);
    assert.ok(first.decisions.length >= 2, 'the runaway operations are decided');
    assert.deepEqual(second.decisions, first.decisions);
    assert.deepEqual(fresh.decisions, first.decisions);
    assert.deepEqual({ ...second.counts }, { ...fresh.counts });
  } finally {
    await snapshot.close();
  }
});
