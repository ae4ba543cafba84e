/**
 * Which source a review command reads: a JSON-lines file (or standard input) or a CloudWatch Logs
 * log group. Exactly one, named by the caller; this module only opens it.
 */
import type { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { ConfigError } from '../util/errors.ts';
import type { ReviewFilter } from '../review/filter.ts';
import type { SourceItem } from '../review/record.ts';
import { createLogsClient, readLogGroup } from '../adapters/cloudwatch-logs.ts';
import { openAuditFile, readAuditLines } from '../adapters/audit-lines-file.ts';

export type SourceSpec = { file: string; logGroup?: undefined } | { logGroup: string; file?: undefined; pageSize?: number };

export interface OpenedSource {
  items: AsyncIterable<SourceItem>;
  /** What one item is, for the summary: "lines" or "log events". */
  unit: string;
  /** For titles and messages: "file audit.jsonl" or "log group NAME". */
  description: string;
  /** Counts blank lines (files only). */
  blank: () => number;
}

export function sourceSpec(file: string | undefined, logGroup: string | undefined, pageSize: number | undefined): SourceSpec {
  if (file !== undefined && logGroup !== undefined) throw new ConfigError('give --file or --log-group, not both');
  if (file !== undefined) {
    if (pageSize !== undefined) throw new ConfigError('--page-size applies to --log-group only');
    return { file };
  }
  if (logGroup !== undefined) return { logGroup, ...(pageSize !== undefined ? { pageSize } : {}) };
  throw new ConfigError('name where the audit events are: --file PATH (JSON lines; "-" for standard input) or --log-group NAME (CloudWatch Logs)');
}

export function openSource(spec: SourceSpec, filter: ReviewFilter, client?: CloudWatchLogsClient): OpenedSource {
  if (spec.file !== undefined) {
    let blank = 0;
    return {
      items: readAuditLines(openAuditFile(spec.file), { onBlank: () => void blank++ }),
      unit: 'lines',
      description: spec.file === '-' ? 'standard input' : `file ${spec.file}`,
      blank: () => blank,
    };
  }
  return {
    items: readLogGroup({
      client: client ?? createLogsClient(),
      logGroupName: spec.logGroup,
      ...(filter.sinceMs !== undefined ? { sinceMs: filter.sinceMs } : {}),
      ...(filter.untilMs !== undefined ? { untilMs: filter.untilMs } : {}),
      ...(spec.pageSize !== undefined ? { pageSize: spec.pageSize } : {}),
    }),
    unit: 'log events',
    description: `log group ${spec.logGroup}`,
    blank: () => 0,
  };
}
