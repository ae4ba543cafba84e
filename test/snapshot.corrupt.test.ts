/**
 * Bad snapshots: each is named with its line or section, is not used for decisions, is counted in the
 * summary, and does not stop the good snapshots beside it from being decided. Nothing crashes.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { backtestCommand } from '../src/cli/backtest.ts';
import type { SnapshotResult } from '../src/cli/backtest-decide.ts';
import type { Totals } from '../src/cli/backtest-output.ts';
import { capture } from './support/capture.ts';
import { coverageChange } from '../src/adapters/snapshot/recording-port.ts';
import type { Coverage } from '../src/pass/ports.ts';
import { editSnapshot, listed, runningOp, writeSnapshot } from './support/snapshots.ts';

const dir = mkdtempSync(join(tmpdir(), 'corrupt-'));
const good = join(dir, 'good.jsonl.gz');
const path = (name: string) => join(dir, name);

async function backtest(...files: string[]): Promise<{ code: number; results: SnapshotResult[]; totals: Totals; stderr: string }> {
  const out = await capture((io) => backtestCommand(['--json', ...files], io));
  const parsed = JSON.parse(out.stdout);
  return { code: out.code, results: parsed.snapshots, totals: parsed.totals, stderr: out.stderr };
}

before(async () => {
  // A good snapshot: a runaway operation, and 20 idle sessions listed.
  const busy = randomUUID();
  await writeSnapshot(good, {
    currentOp: [runningOp(busy, 900, 41)],
    listLocalSessions: [listed(busy, 0)],
    listSessions: [listed(busy, 0), ...Array.from({ length: 20 }, () => listed(randomUUID(), 60))],
  });
});

/** Each bad copy of the good snapshot, and what its error must say. */
const CASES: { name: string; make: () => void; error: RegExp }[] = [
  {
    name: 'bad gzip (bytes damaged in the middle)',
    make: () => {
      const bytes = readFileSync(good);
      for (let i = Math.floor(bytes.length / 3); i < Math.floor(bytes.length / 3) + 40; i++) bytes[i] = bytes[i]! ^ 0x5a;
      writeFileSync(path('damaged.jsonl.gz'), bytes);
    },
    error: /damaged\.jsonl\.gz (is not a readable gzip stream (after line \d+|from its start)|line \d+: )/,
  },
  {
    name: 'truncated',
    make: () => writeFileSync(path('truncated.jsonl.gz'), readFileSync(good).subarray(0, Math.floor(readFileSync(good).length * 0.6))),
    error: /truncated\.jsonl\.gz (is not a readable gzip stream after line \d+ \(unexpected end of file\)|.*cut short)/,
  },
  {
    name: 'a line that is not JSON',
    make: () => editSnapshot(good, path('bad-line.jsonl.gz'), (l) => l.map((x, i) => (i === 9 ? x.slice(0, 30) : x))),
    error: /bad-line\.jsonl\.gz line 10: the listSessions document is not valid JSON/,
  },
  {
    name: 'a missing section',
    make: () => editSnapshot(good, path('missing.jsonl.gz'), (l) => {
      const start = l.findIndex((x) => x.includes('"source":"listLocalSessions"'));
      return [...l.slice(0, start), ...l.slice(start + 3)].map((x) => x.replace('{"$trailer":{"sections":3,"documents":23', '{"$trailer":{"sections":2,"documents":22'));
    }),
    error: /missing\.jsonl\.gz: section listLocalSessions of db0\.example\.net:27017 is missing/,
  },
  {
    name: 'an incomplete section (the listing failed during the recording)',
    make: () => editSnapshot(good, path('incomplete.jsonl.gz'), (l) => l.map((x) => x.replace(/("source":"currentOp","documents":1)\}/, '$1,"error":"the listing failed: connection reset"}'))),
    error: /incomplete\.jsonl\.gz line \d+: section currentOp of db0\.example\.net:27017 is incomplete: the listing failed: connection reset/,
  },
  {
    name: 'a line missing inside a section',
    make: () => editSnapshot(good, path('miscounted.jsonl.gz'), (l) => l.filter((_, i) => i !== 8)),
    error: /miscounted\.jsonl\.gz line \d+: section listSessions of db0\.example\.net:27017 says 21 documents and has 20/,
  },
  {
    name: 'a trailer that does not add up',
    make: () => editSnapshot(good, path('trailer.jsonl.gz'), (l) => l.map((x) => x.replace(/("\$trailer":\{"sections":3,"documents":)\d+/, '$17'))),
    error: /trailer\.jsonl\.gz line \d+: the trailer counts 7 documents, the sections hold 23/,
  },
  {
    name: 'the members read changed during the recording (a member read at its start failed half-way)',
    make: () => editSnapshot(good, path('coverage.jsonl.gz'), (l) => l.map((x) => x.replace(/("\$trailer":\{"sections":3,"documents":23)\}/, '$1,"coverageChanged":"db2.example.net:27017 not read: connection reset"}'))),
    error: /coverage\.jsonl\.gz line \d+: the members read changed while the pass read the cluster \(db2\.example\.net:27017 not read: connection reset\): .*cannot be used for decisions/,
  },
  {
    name: 'a newer format version',
    make: () => editSnapshot(good, path('newer.jsonl.gz'), (l) => l.map((x, i) => (i === 0 ? x.replace('"version":2', '"version":7') : x))),
    error: /newer\.jsonl\.gz line 1: the snapshot is format version 7 .*upgrade session-reaper/,
  },
  {
    name: 'not a snapshot',
    make: () => writeFileSync(path('notes.txt'), 'shopping list\nmilk\n'),
    error: /notes\.txt line 1: the header line is not valid JSON/,
  },
  {
    name: 'an empty file',
    make: () => writeFileSync(path('empty.jsonl.gz'), ''),
    error: /empty\.jsonl\.gz is empty: it is not a snapshot/,
  },
];

describe('bad snapshots in a backtest', () => {
  test('each is named, left out of the decisions and counted; the good one is decided', async () => {
    // Prepare
    for (const c of CASES) c.make();
    const bad = ['damaged.jsonl.gz', 'truncated.jsonl.gz', 'bad-line.jsonl.gz', 'missing.jsonl.gz', 'incomplete.jsonl.gz', 'miscounted.jsonl.gz', 'trailer.jsonl.gz', 'coverage.jsonl.gz', 'newer.jsonl.gz', 'notes.txt', 'empty.jsonl.gz'].map(path);
    // Act
    const { code, results, totals, stderr } = await backtest(good, ...bad);
    // Assess
    assert.equal(code, 1);
    assert.equal(totals.snapshots, 12);
    assert.equal(totals.unusable, 11);
    assert.equal(results[0]!.usable, true);
    assert.deepEqual(results[0]!.a!.decisions.map((d) => [d.outcome, d.rule]), [['planned', 'runaway-operation']]);
    assert.equal(totals.a.planned, 1, 'only the good snapshot\'s decisions count');
    for (const [i, c] of CASES.entries()) {
      const r = results[i + 1]!;
      assert.equal(r.usable, false, c.name);
      assert.match(r.error ?? '', c.error, c.name);
      assert.equal(r.a, undefined, `${c.name}: no decisions`);
      assert.ok(stderr.includes(r.error!), `${c.name}: the error is on stderr too`);
    }
  });

  test('a snapshot by an older writer says so and is still decided', async () => {
    editSnapshot(good, path('older.jsonl.gz'), (l) => l.map((x, i) => (i === 0 ? x.replace(/"writer":"[^"]*"/, '"writer":"mongodb-session-reaper 0.0.9"') : x)));
    const { code, results } = await backtest(path('older.jsonl.gz'));
    assert.equal(code, 0);
    assert.equal(results[0]!.usable, true);
    assert.match(results[0]!.notes.join('\n'), /written by mongodb-session-reaper 0\.0\.9 \(format version 2\); read by mongodb-session-reaper 0\.1\.0/);
    assert.equal(results[0]!.a!.counts.planned, 1);
  });

  test('a format version 1 snapshot (one member, no sections or coverage in its header) is still decided, and says it is older', async () => {
    // Prepare: the good snapshot as version 1 wrote it: the same lines, the header without version 2's fields.
    editSnapshot(good, path('v1.jsonl.gz'), (l) => l.map((x, i) => {
      if (i > 0) return x;
      const { $snapshot: h } = JSON.parse(x) as { $snapshot: Record<string, unknown> & { members: Record<string, unknown>[] } };
      delete h.coverage;
      return JSON.stringify({ $snapshot: { ...h, version: 1, writer: 'mongodb-session-reaper 0.1.0', members: h.members.map(({ name, hello }) => ({ name, hello })) } });
    }));
    // Act
    const { code, results } = await backtest(good, path('v1.jsonl.gz'));
    const text = await capture((io) => backtestCommand([path('v1.jsonl.gz')], io));
    // Assess
    assert.equal(code, 0);
    assert.equal(results[1]!.usable, true);
    assert.deepEqual(results[1]!.a!.decisions, results[0]!.a!.decisions);
    assert.match(results[1]!.notes.join('\n'), /\(format version 1\); read by mongodb-session-reaper 0\.1\.0 \(format version 2\)/);
    assert.match(text.stdout + text.stderr, /format version 1/, 'the summary says so');
  });

  test('an uncompressed snapshot (zcat, an edit) reads like the compressed one', async () => {
    editSnapshot(good, path('plain.jsonl'), (l) => l, false);
    const { code, results } = await backtest(good, path('plain.jsonl'));
    assert.equal(code, 0);
    assert.deepEqual(results[1]!.a!.decisions, results[0]!.a!.decisions);
  });
});

describe('the recording tells whether a member read at its start was read throughout', () => {
  test('coverageChange names the members covered at the header and not at the end, and only those', () => {
    const cov = (members: [string, boolean, string?][]): Coverage => ({ topology: 'mongos', setName: '', notes: [], members: members.map(([host, covered, why]) => ({ host, state: 'SECONDARY', covered, ...(why ? { why } : {}) })) });
    assert.equal(coverageChange(cov([['a:1', true], ['b:1', false]]), cov([['a:1', true], ['b:1', false]])), null);
    assert.equal(coverageChange(cov([['a:1', true]]), cov([['a:1', true], ['c:1', false, 'not read: down']])), null, 'a member not read from the start is in the header already');
    assert.equal(coverageChange(cov([['a:1', true], ['b:1', true]]), cov([['a:1', true], ['b:1', false, 'not read: connection reset']])), 'b:1 not read: connection reset');
    assert.equal(coverageChange(null, cov([['a:1', false]])), null);
  });
});
