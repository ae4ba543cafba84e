/**
 * Reading input: bad lines are reported with their line number and counted, never fatal and never
 * silently dropped; the file is streamed (a record comes out before the input has ended); long reads
 * report progress on stderr.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { auditCommand } from '../src/cli/audit.ts';
import { parseAuditText } from '../src/review/parse.ts';
import { PROGRESS_EVERY, scan, type ScanSummary } from '../src/review/scan.ts';
import { readAuditLines } from '../src/adapters/audit-lines-file.ts';
import { parseTimeBound } from '../src/review/time.ts';
import { ConfigError } from '../src/util/errors.ts';
import { historyJsonLines, syntheticHistory, writeJsonLines } from './support/audit-history.ts';
import { capture } from './support/capture.ts';

let dir: string;
let good: string[];

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'audit-input-'));
  good = historyJsonLines().trimEnd().split('\n');
});

after(() => rmSync(dir, { recursive: true, force: true }));

const audit = (args: string[]) => capture((io) => auditCommand(args, io));

/** A good envelope with its detail changed by `edit`. */
function edited(line: string, edit: (envelope: Record<string, any>) => void): string {
  const envelope = JSON.parse(line);
  edit(envelope);
  return JSON.stringify(envelope);
}

describe('malformed and invalid input', () => {
  let out: Awaited<ReturnType<typeof audit>>;

  before(async () => {
    // Prepare: every kind of bad line between good ones; the last line has no line break.
    const killed = good[4]!; // evt-5, alice killed
    const lines = [
      `\uFEFF${good[0]}`, // 1: good, behind a byte-order mark
      '{"detail-type": "Session Killed", "detail": {"kind"', // 2: cut off mid-write
      'this is not json', // 3
      '', // 4: blank
      '[1, 2, 3]', // 5: JSON, not an object
      '{"id": "x", "source": "mongodb.session-reaper"}', // 6: an object, not an envelope
      edited(killed, (e) => (e.detail.session.uid = 'XYZ')), // 7: breaks the schema
      edited(killed, (e) => (e['detail-type'] = 'Session Kill Failed')), // 8: detail-type contradicts the detail
      edited(killed, (e) => (e.detail.outcome = 'killed', e.detail.dryRun = true)), // 9: a dry run that killed: the schema forbids it
      `{"junk": "${'x'.repeat(100_000)}`, // 10: a huge broken line
      '   ', // 11: blank
      edited(killed, (e) => (e['ingestion-time'] = 1714557601)), // 12: good, with an extra envelope field
      good[12]!, // 13: good, no trailing line break
    ];
    const file = join(dir, 'bad.jsonl');
    writeFileSync(file, lines.join('\n'));
    // Act
    out = await audit(['--file', file, '--json']);
  });

  it('nothing crashes: the valid events are all written, and the exit code says input was bad', () => {
    assert.equal(out.code, 3);
    assert.deepEqual(out.stdout.trimEnd().split('\n').map((l) => JSON.parse(l).id), ['evt-1', 'evt-5', 'evt-13']);
  });

  it('each bad line is reported with its line number and what is wrong', () => {
    const reported = out.stderr.split('\n').filter((l) => /: line \d+: /.test(l));
    assert.deepEqual(reported.map((l) => Number(/line (\d+):/.exec(l)![1])), [2, 3, 5, 6, 7, 8, 9, 10]);
    assert.match(out.stderr, /line 2: not JSON \(/);
    assert.match(out.stderr, /line 3: not JSON .*"this is not json"/);
    assert.match(out.stderr, /line 5: not a JSON object: "\[1, 2, 3\]"/);
    assert.match(out.stderr, /line 6: not an EventBridge event envelope/);
    assert.match(out.stderr, /line 7: detail does not match the audit event schema: "session\.uid" must be a string matching \^\[0-9a-f\]\{64\}\$/);
    assert.match(out.stderr, /line 8: detail-type "Session Kill Failed" contradicts the detail, which is a "Session Killed"/);
    assert.match(out.stderr, /line 9: detail does not match the audit event schema: .*outcome/);
  });

  it('a huge bad line is quoted short, not echoed whole', () => {
    const line10 = out.stderr.split('\n').find((l) => l.includes('line 10:'))!;
    assert.ok(line10.length < 400, `line 10 report is ${line10.length} characters`);
  });

  it('the summary counts every line: read, valid, malformed, invalid, blank', () => {
    assert.match(out.stderr, /11 lines read, 3 audit events, 3 matched, 8 problems \(5 malformed, 3 not matching the schema\), 2 blank lines skipped\n$/);
  });
});

describe('parseAuditText', () => {
  it('keeps the envelope as read and times the record by the detail, not the envelope', () => {
    // Act
    const item = parseAuditText(good[4]!, 'line 5');
    // Assess
    assert.ok(item.record);
    assert.equal(item.record.eventId, 'evt-5');
    assert.equal(item.record.timeMs, Date.parse('2024-05-01T10:00:01.500Z'));
    assert.equal(item.record.envelope.time, '2024-05-01T10:00:01Z');
    assert.deepEqual(item.record.envelope, JSON.parse(good[4]!));
  });
});

describe('streaming', () => {
  it('yields the first event before the input has ended', { timeout: 30_000 }, async () => {
    // Prepare: a stream that has delivered one line and is still open.
    const input = new PassThrough();
    const items = readAuditLines(input)[Symbol.asyncIterator]();
    input.write(`${good[0]}\n`);
    // Act
    const first = await items.next();
    // Assess: had the reader waited for the end, this would never have resolved.
    assert.equal(first.value?.record?.eventId, 'evt-1');
    assert.equal(input.writableEnded, false);
    input.end(`${good[1]}\n`);
    assert.equal((await items.next()).value?.record?.eventId, 'evt-2');
    assert.equal((await items.next()).done, true);
  });

  it('reports progress every PROGRESS_EVERY items with the counts so far', async () => {
    // Prepare: 2.5 progress intervals of items, one in a thousand of them a problem.
    const record = parseAuditText(good[0]!, 'line 1').record!;
    async function* items() {
      for (let i = 1; i <= PROGRESS_EVERY * 2.5; i++) {
        yield i % 1000 === 0 ? { problem: { where: `line ${i}`, kind: 'malformed' as const, message: 'x' } } : { record };
      }
    }
    const seen: ScanSummary[] = [];
    // Act
    const summary = await scan(items(), {}, { onRecord: () => {}, onProblem: () => {}, onProgress: (s) => seen.push({ ...s }) });
    // Assess
    assert.deepEqual(seen.map((s) => [s.read, s.malformed]), [[PROGRESS_EVERY, PROGRESS_EVERY / 1000], [PROGRESS_EVERY * 2, PROGRESS_EVERY / 500]]);
    assert.equal(summary.read, PROGRESS_EVERY * 2.5);
  });

  it('the command prints progress on stderr while reading a long file', async () => {
    // Prepare: just over one progress interval of real events.
    const file = join(dir, 'long.jsonl');
    await writeJsonLines(file, syntheticHistory(PROGRESS_EVERY + 5));
    // Act
    const out = await audit(['--file', file, '--outcome', 'failed', '--csv']);
    // Assess
    assert.equal(out.code, 0, out.stderr.slice(0, 2000));
    assert.match(out.stderr, /^session-reaper audit: 100,000 lines read, 100,000 audit events, [\d,]+ matched, no problems so far\n/);
    assert.match(out.stderr, /100,005 lines read, 100,005 audit events/);
  });

  it('reads 100,000 events, listing them all or making the report, within a 64 MiB heap', () => {
    // Prepare: the same long file (~77 MiB, more than the heap; parsed, its events would take several
    // times that), read by a process whose heap is capped at 64 MiB: anything kept per event runs out of
    // heap. (Much lower caps also pass, but slowly: the collector then runs all the time.)
    const file = join(dir, 'long.jsonl');
    const bin = join(import.meta.dirname, '..', 'bin', 'session-reaper.mjs');
    const run = (args: string[]) => {
      const out = openSync(join(dir, 'heap-out'), 'w');
      try {
        return spawnSync(process.execPath, ['--max-old-space-size=64', bin, 'audit', ...args], { stdio: ['ignore', out, 'pipe'], encoding: 'utf8' });
      } finally {
        closeSync(out);
      }
    };
    // Act
    const table = run(['--file', file]);
    const report = run(['report', '--html', join(dir, 'long.html'), '--file', file]);
    // Assess
    assert.equal(table.status, 0, table.stderr.slice(-2000));
    assert.match(table.stderr, /100,005 lines read, 100,005 audit events, 100,005 matched/);
    assert.equal(report.status, 0, report.stderr.slice(-2000));
    assert.match(readFileSync(join(dir, 'long.html'), 'utf8'), /data-figure="events" data-value="100005"/);
  });
});

describe('--since / --until values', () => {
  const now = Date.parse('2024-05-02T10:00:00Z');

  it('durations count back from now', () => {
    assert.equal(parseTimeBound('30m', now, '--since'), now - 30 * 60_000);
    assert.equal(parseTimeBound('24h', now, '--since'), now - 86_400_000);
    assert.equal(parseTimeBound('7d', now, '--since'), now - 7 * 86_400_000);
    assert.equal(parseTimeBound('2w', now, '--since'), now - 14 * 86_400_000);
    assert.equal(parseTimeBound('45s', now, '--since'), now - 45_000);
  });

  it('ISO dates are midnight UTC; times need an offset', () => {
    assert.equal(parseTimeBound('2024-05-01', now, '--since'), Date.parse('2024-05-01T00:00:00Z'));
    assert.equal(parseTimeBound('2024-05-01T12:00:00Z', now, '--since'), Date.parse('2024-05-01T12:00:00Z'));
    assert.equal(parseTimeBound('2024-05-01T14:00+02:00', now, '--since'), Date.parse('2024-05-01T12:00:00Z'));
    assert.equal(parseTimeBound('2024-05-01T12:00:00.250Z', now, '--since'), Date.parse('2024-05-01T12:00:00.250Z'));
  });

  it('anything else is a configuration error naming the flag', () => {
    for (const bad of ['', 'yesterday', '10x', '-5m', '1.5h', '2024-05-01T12:00', '2024-13-45', '2024-05-01 12:00Z']) {
      assert.throws(() => parseTimeBound(bad, now, '--until'), (e: Error) => e instanceof ConfigError && e.message.startsWith(`--until "${bad}"`), bad);
    }
  });
});
