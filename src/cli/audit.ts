/**
 * `session-reaper audit`: reviewing the audit trail.
 *
 *   session-reaper audit (--file PATH | --log-group NAME) [filters] [--json | --csv]
 *   session-reaper audit explain SESSION_ID (--file PATH | --log-group NAME) [--since ..] [--until ..] [--cluster ..] [--run ..] [--trigger ..] [--json]
 *   session-reaper audit report --html FILE (--file PATH | --log-group NAME) [filters] [--rows N]
 *
 * Standard output carries only the result (table, JSON lines, CSV, story); problems with the input,
 * progress and the closing summary go to standard error.
 * Exit codes: 0 everything read was a valid audit event; 1 the source could not be read (or the
 * report not written); 2 bad usage; 3 the result is complete but some lines or log events were not
 * valid audit events (each is named on stderr and counted in the summary).
 */
import { writeFile } from 'node:fs/promises';
import type { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { ConfigError, ReaperError } from '../util/errors.ts';
import { AUDIT_USAGE, parseAuditArgs, positiveInteger, type ParsedAudit } from './audit-args.ts';
import { StoryCollector, renderStory } from '../review/explain.ts';
import { describeFilter, type ReviewFilter } from '../review/filter.ts';
import { csvHeader, csvRecord } from '../review/output/csv.ts';
import { StreamingTable } from '../review/output/table.ts';
import { ChunkedWriter, isClosedPipe, writeText } from '../review/output/write.ts';
import { printable, printableJson } from '../util/terminal.ts';
import type { AuditRecord, ReadProblem } from '../review/record.ts';
import { DEFAULT_TABLE_ROWS, ReportCollector } from '../review/report/aggregate.ts';
import { renderReportHtml } from '../review/report/html.ts';
import { toRow } from '../review/row.ts';
import { formatSummary, scan, type ScanSummary } from '../review/scan.ts';
import { openSource } from './audit-source.ts';
import type { CliIo } from './run.ts';

/** What the command needs from outside; tests inject a clock and an AWS client. */
export interface AuditIo extends CliIo {
  now?: () => number;
  logsClient?: CloudWatchLogsClient;
}


/** Reads the source through the filter, reporting problems and progress on stderr. */
async function readSource(parsed: ParsedAudit, filter: ReviewFilter, io: AuditIo, onRecord: (r: AuditRecord) => void | Promise<void>, onProblem?: (p: ReadProblem) => void): Promise<{ summary: ScanSummary; description: string; unit: string }> {
  const source = openSource(parsed.spec, filter, io.logsClient);
  const summary = await scan(source.items, filter, {
    onRecord,
    onProblem: (p) => {
      io.stderr.write(`session-reaper audit: ${p.where}: ${printable(p.message)}\n`);
      onProblem?.(p);
    },
    onProgress: (s) => io.stderr.write(`session-reaper audit: ${formatSummary({ ...s, blank: source.blank() }, source.unit)} so far\n`),
  });
  summary.blank = source.blank();
  return { summary, description: source.description, unit: source.unit };
}

async function list(parsed: ParsedAudit, io: AuditIo): Promise<ScanSummary> {
  const out = new ChunkedWriter(io.stdout);
  let summary: ScanSummary;
  try {
    summary = await listInto(out, parsed, io);
  } catch (e) {
    // What was read before the failure is still shown, then the failure is reported.
    await out.flush().catch(() => {});
    throw e;
  }
  await out.flush();
  return summary;
}

async function listInto(out: ChunkedWriter, parsed: ParsedAudit, io: AuditIo): Promise<ScanSummary> {
  let summary: ScanSummary;
  if (parsed.values.json) {
    // JSON lines, each envelope as read: `audit --file` reads the output again, and jq takes it as is.
    ({ summary } = await readSource(parsed, parsed.filter, io, (r) => out.write(`${printableJson(JSON.stringify(r.envelope))}\n`)));
  } else if (parsed.values.csv) {
    await out.write(csvHeader());
    ({ summary } = await readSource(parsed, parsed.filter, io, (r) => out.write(csvRecord(toRow(r)))));
  } else {
    const table = new StreamingTable(out);
    ({ summary } = await readSource(parsed, parsed.filter, io, (r) => table.add(toRow(r))));
    await table.end();
  }
  return summary;
}

async function explain(parsed: ParsedAudit, io: AuditIo): Promise<{ summary: ScanSummary; code?: number }> {
  const collector = new StoryCollector(parsed.sessionId!);
  const { summary } = await readSource(parsed, parsed.filter, io, (r) => collector.add(r));
  const ids = collector.matchedIds();
  if (ids.length === 0) {
    io.stderr.write(`session-reaper audit explain: no decision about session ${parsed.sessionId} in the events read ` +
      '(passes that found nothing to do about a session leave no event; widen --since/--until or check the source)\n');
    return { summary, code: 1 };
  }
  if (ids.length > 1) {
    io.stderr.write(`session-reaper audit explain: "${parsed.sessionId}" matches ${ids.length} sessions; give more of the id:\n${ids.map((id) => `  ${id}`).join('\n')}\n`);
    return { summary, code: 2 };
  }
  const story = collector.story(ids[0]!);
  await writeText(io.stdout, parsed.values.json ? `${printableJson(JSON.stringify(story, null, 2))}\n` : `${renderStory(story)}\n`);
  return { summary };
}

async function report(parsed: ParsedAudit, io: AuditIo, now: number): Promise<ScanSummary> {
  const collector = new ReportCollector(positiveInteger(parsed.values.rows, 'rows') ?? DEFAULT_TABLE_ROWS);
  const { summary, description } = await readSource(parsed, parsed.filter, io, (r) => collector.add(r), (p) => collector.addProblem(p));
  collector.finish();
  const html = renderReportHtml(collector, { source: description, filter: describeFilter(parsed.filter), generatedAt: new Date(now), summary });
  await writeFile(parsed.values.html!, html, 'utf8');
  io.stderr.write(`session-reaper audit report: wrote ${parsed.values.html} (${collector.events.toLocaleString('en-US')} events)\n`);
  return summary;
}

function readFailure(e: unknown, parsed: ParsedAudit | undefined, env: Record<string, string | undefined>): string {
  const err = e as { name?: string; code?: string; message?: string };
  if (parsed?.spec.logGroup !== undefined && err.name === 'ResourceNotFoundException') {
    return `log group "${parsed.spec.logGroup}" not found (region ${env.AWS_REGION ?? 'from the AWS configuration'}): ${err.message ?? ''}`;
  }
  if (parsed?.spec.file !== undefined && err.code === 'ENOENT') return `no such file: ${parsed.spec.file}`;
  return err.message ?? String(e);
}

export async function auditCommand(argv: string[], io: AuditIo): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    io.stdout.write(`${AUDIT_USAGE}\n`);
    return 0;
  }
  const now = (io.now ?? Date.now)();
  let parsed: ParsedAudit | undefined;
  // Without a listener, a write error on stdout (EPIPE when piped into `head`) would be thrown as an
  // uncaught 'error' event; with it, the next write sees the stream errored and the read stops.
  const ignore = (): void => {};
  io.stdout.on('error', ignore);
  try {
    parsed = parseAuditArgs(argv, now);
    let summary: ScanSummary;
    let code: number | undefined;
    if (parsed.sub === 'explain') ({ summary, code } = await explain(parsed, io));
    else if (parsed.sub === 'report') summary = await report(parsed, io, now);
    else summary = await list(parsed, io);
    const unit = parsed.spec.file !== undefined ? 'lines' : 'log events';
    io.stderr.write(`session-reaper audit: ${formatSummary(summary, unit)}\n`);
    if (code !== undefined) return code;
    return summary.malformed + summary.invalid > 0 ? 3 : 0;
  } catch (e) {
    if (isClosedPipe(e)) return 0;
    if (e instanceof ConfigError) {
      io.stderr.write(`session-reaper audit: ${e.message}\n${AUDIT_USAGE}\n`);
      return 2;
    }
    io.stderr.write(`session-reaper audit: ${printable(readFailure(e, parsed, io.env))}\n`);
    return e instanceof ReaperError ? 2 : 1;
  } finally {
    io.stdout.removeListener('error', ignore);
  }
}
