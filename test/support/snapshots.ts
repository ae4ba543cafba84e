/**
 * Snapshots for tests, written by the real writer from BSON documents made here, and edited copies of them
 * (the uncompressed lines changed, then compressed again) for the bad-input tests.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { Binary, BSON, Long, UUID, type Document } from 'mongodb';
import { snapshotHeader, type SnapshotHeader } from '../../src/adapters/snapshot/format.ts';
import { SnapshotWriter } from '../../src/adapters/snapshot/writer.ts';
import { SnapshotFile } from '../../src/adapters/snapshot/reader.ts';
import { SnapshotReplayPort } from '../../src/adapters/snapshot/replay-port.ts';
import { decideOffline } from '../../src/pass/backtest.ts';
import type { RunReport } from '../../src/pass/pass.ts';
import type { PolicySet } from '../../src/pass/policy/types.ts';
import { DEFAULT_POLICIES_DIR } from '../../src/service/config.ts';

export const MEMBER = 'db0.example.net:27017';
export const NOW = Date.parse('2024-06-01T12:00:00Z');
/** SHA-256 of "" : the uid of sessions created without authentication. */
export const NO_AUTH_UID = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

export function header(overrides: Partial<SnapshotHeader> = {}): SnapshotHeader {
  return {
    ...snapshotHeader({
      takenAtMs: NOW,
      source: { uri: 'mongodb://***:***@db0.example.net:27017/', recordedBy: 'snapshot' },
      topology: { kind: 'replicaSet', setName: 'rs0', hosts: [MEMBER] },
      members: [{ name: MEMBER, hello: { me: MEMBER, setName: 'rs0', isWritablePrimary: true } }],
      reaper: { sessionId: randomUUID(), uid: NO_AUTH_UID, user: '' },
      valuesKept: false,
    }),
    ...overrides,
  };
}

export function lsid(id: string = randomUUID()): { id: Binary; uid: Binary } {
  return { id: new UUID(id), uid: new Binary(Buffer.from(NO_AUTH_UID, 'hex'), 0) };
}

/** A $listSessions document of a session last used `idleSeconds` before NOW. */
export function listed(id: string, idleSeconds: number): Document {
  return { _id: lsid(id), lastUse: new Date(NOW - idleSeconds * 1000) };
}

/** A $currentOp document of an operation running `seconds` in session `id` (or in none). */
export function runningOp(id: string | null, seconds: number, opid: number, extra: Document = {}): Document {
  return {
    type: 'op', opid, active: true, secs_running: Long.fromNumber(seconds), op: 'query', ns: 'shop.orders', client: '10.0.0.9:5000',
    appName: 'orders-api', ...(id ? { lsid: lsid(id) } : {}), command: { find: 'orders', filter: { status: 'open' } }, ...extra,
  };
}

export interface Content {
  currentOp?: Document[];
  listLocalSessions?: Document[];
  listSessions?: Document[];
  header?: Partial<SnapshotHeader>;
}

export async function writeSnapshot(path: string, content: Content): Promise<void> {
  const writer = await SnapshotWriter.toFile(path, { keepValues: false });
  writer.header(header(content.header));
  for (const source of ['currentOp', 'listLocalSessions', 'listSessions'] as const) {
    writer.beginSection(MEMBER, source);
    for (const doc of content[source] ?? []) writer.document(BSON.serialize(doc));
    writer.endSection();
    await writer.drain();
  }
  await writer.finish();
}

/** The snapshot's lines, uncompressed. */
export function snapshotLines(path: string): string[] {
  return gunzipSync(readFileSync(path)).toString('utf8').replace(/\n$/, '').split('\n');
}

/** Writes an edited copy of `from` to `to` (compressed again unless `gzip` is false). */
export function editSnapshot(from: string, to: string, edit: (lines: string[]) => string[], gzip = true): void {
  const text = `${edit(snapshotLines(from)).join('\n')}\n`;
  writeFileSync(to, gzip ? gzipSync(text) : text);
}

/** A copy of the default policy set with one more rule file (`name`.json holding `rules`), in a fresh directory. */
export function defaultPoliciesPlus(name: string, rules: unknown[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'policies-'));
  cpSync(DEFAULT_POLICIES_DIR, dir, { recursive: true });
  writeFileSync(join(dir, `${name}.json`), JSON.stringify({ version: 1, rules }));
  return dir;
}

/**
 * A backtest of one snapshot file, never connecting, with the gates the end-to-end tests' passes use (at most 100
 * kills, any share); the snapshot is closed (its header stays readable).
 */
export async function backtestFile(file: string, policy: PolicySet): Promise<{ report: RunReport; snapshot: SnapshotFile }> {
  const snapshot = await SnapshotFile.open(file);
  try {
    const replay = new SnapshotReplayPort(snapshot);
    return { report: await decideOffline(replay, policy, { nowMs: replay.nowMs, maxKills: 100, maxKillShare: 1 }), snapshot };
  } finally {
    await snapshot.close();
  }
}

/** The backtest decided what the pass that recorded the snapshot decided: the same decisions, counts, coverage and unfinished work. */
export function assertDecidesAsRecorded(report: RunReport, recorded: RunReport): void {
  assert.equal(report.error, null);
  assert.deepEqual(report.decisions, recorded.decisions);
  assert.deepEqual({ ...report.counts }, { ...recorded.counts });
  assert.deepEqual(report.coverage, recorded.coverage);
  assert.equal(report.unfinished, recorded.unfinished);
}
