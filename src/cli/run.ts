/**
 * `session-reaper run`: one reaping pass from the command line.
 *
 *   session-reaper run --uri URI [--policies DIR] [--dry-run] [--max-kills N] [--max-kill-share F]
 *                      [--batch-size N] [--concurrency N] [--audit eventbridge|stdout|file:PATH]
 *                      [--cluster NAME] [--members all|primary] [--record FILE [--keep-values]] [--json] [--<threshold flag> N]...
 *
 * Threshold flags come from the policy set's parameters (e.g. --idle-txn-seconds 5 for the default set).
 * Exit codes (src/cli/run-outcome.ts): 0 the pass completed; 1 the pass failed (message on stderr); 2 bad
 * usage or configuration; 3 audit events could not all be delivered (each one is logged on stderr with its
 * content); 4 kills failed. Several at once: 3, then 1, then 4.
 */
import { parseArgs } from 'node:util';
import { createAuditSink } from '../adapters/audit-sinks.ts';
import type { AuditLogger, AuditSink } from '../pass/audit/sink.ts';
import { MongoAdapter } from '../adapters/mongodb/adapter.ts';
import { defaultStatePath, FileSightings } from '../adapters/sightings-file.ts';
import { resolveConfig, SETTINGS, type RunConfig } from '../service/config.ts';
import { ConfigError, ReaperError } from '../util/errors.ts';
import { runPass, type RunReport } from '../pass/pass.ts';
import { renderDecisions } from './decision-table.ts';
import { auditBudget } from '../pass/audit/budget.ts';
import { isClosedPipe } from '../review/output/write.ts';
import { writeFully } from '../util/stream-write.ts';
import { EXIT, runOutcome } from './run-outcome.ts';
import { loadPolicySet } from '../pass/policy/load.ts';
import type { ParameterInfo, PolicySet } from '../pass/policy/types.ts';
import { RecordingMongoPort } from '../adapters/snapshot/recording-port.ts';
import { SnapshotWriter } from '../adapters/snapshot/writer.ts';
import { redactUri } from '../util/redact.ts';
import { formatTable } from '../util/table.ts';
import { printableJson } from '../util/terminal.ts';
import type { TriggerInfo } from '../pass/audit/events.ts';

export interface CliIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  env: Record<string, string | undefined>;
}

export const RUN_USAGE = `usage: session-reaper run --uri URI [--policies DIR] [--dry-run] [--max-kills N] [--max-kill-share F]
                          [--batch-size N] [--concurrency N] [--audit eventbridge|eventbridge:BUS|stdout|file:PATH]
                          [--audit-timeout SECONDS] [--audit-request-timeout SECONDS] [--cluster NAME]
                          [--source SOURCE] [--event-bus NAME] [--evaluator compiled|json-rules-engine]
                          [--members all|primary] [--state FILE] [--record FILE [--keep-values]] [--json] [--<threshold> N]...
threshold flags of the policy set: see 'session-reaper policies check'
--record FILE writes the snapshot the pass decided on (see 'session-reaper snapshot'); backtest it with 'session-reaper backtest'`;

/** The flags a command takes besides the threshold flags of its policy set. */
export interface FlagSpec {
  /** Flags with a value. */
  valued: ReadonlySet<string>;
  /** Flags without a value (--name, or --name=true|false). */
  booleans: ReadonlySet<string>;
  /** Whether bare arguments are allowed (file names); they are returned in order. */
  positionals: boolean;
  usage: string;
}

const RUN_FLAGS: FlagSpec = {
  valued: new Set([...SETTINGS.filter((s) => s.flag !== null && s.flag !== 'dry-run').map((s) => s.flag!), 'record']),
  booleans: new Set(['dry-run', 'json', 'help', 'keep-values']),
  positionals: false,
  usage: RUN_USAGE,
};

/** Splits argv into the command's flags, the rest (threshold flags) and the bare arguments, each flag as name -> raw string. */
export function splitFlags(argv: string[], spec: FlagSpec = RUN_FLAGS): { flags: Record<string, string | boolean>; extra: Record<string, string>; positionals: string[] } {
  const { tokens } = parseArgs({ args: argv, strict: false, tokens: true, allowPositionals: true });
  const flags: Record<string, string | boolean> = {};
  const extra: Record<string, string> = {};
  const positionals: string[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t.kind === 'positional') {
      if (!spec.positionals) throw new ConfigError(`unexpected argument "${t.value}"\n${spec.usage}`);
      positionals.push(t.value);
      continue;
    }
    if (t.kind !== 'option') continue;
    let value: string | boolean | undefined = t.value;
    if (spec.booleans.has(t.name)) {
      if (value !== undefined && !['true', 'false'].includes(value)) throw new ConfigError(`--${t.name} takes no value`);
      value = value === undefined ? true : value === 'true';
    } else if (value === undefined) {
      const next = tokens[i + 1];
      if (!next || next.kind !== 'positional') throw new ConfigError(`--${t.name} needs a value\n${spec.usage}`);
      value = next.value;
      i++;
    }
    if (spec.valued.has(t.name) || spec.booleans.has(t.name)) flags[t.name] = value;
    else extra[t.name] = String(value);
  }
  return { flags, extra, positionals };
}

/**
 * Threshold flags are the policy set's declared parameter flags; anything else is a usage error, unless
 * `ignoreUnknown` (a backtest comparing two sets applies each flag to the sets that declare it).
 */
export async function loadPolicyWithFlags(
  dir: string, extra: Record<string, string>, env: Record<string, string | undefined>,
  options: { usage?: string; ignoreUnknown?: boolean } = {},
): Promise<PolicySet> {
  const declared = await loadPolicySet(dir, { env });
  const overrides: Record<string, number> = {};
  const byFlag = thresholdFlags(declared);
  for (const [flag, raw] of Object.entries(extra)) {
    const p = byFlag.get(flag);
    if (!p) {
      if (options.ignoreUnknown) continue;
      const known = [...byFlag.keys()].map((f) => `--${f}`).join(', ') || '(none)';
      throw new ConfigError(`unknown option --${flag}; threshold flags of the policy set in ${dir}: ${known}\n${options.usage ?? RUN_USAGE}`);
    }
    const n = Number(raw);
    if (!Number.isFinite(n)) throw new ConfigError(`--${flag} must be a number (${p.description}), got "${raw}"`);
    overrides[p.name] = n;
  }
  return Object.keys(overrides).length ? loadPolicySet(dir, { env, overrides }) : declared;
}

/** The threshold flags a policy set declares, by flag name. */
export function thresholdFlags(set: PolicySet): Map<string, ParameterInfo> {
  return new Map(Object.values(set.parameterInfo).filter((p) => p.flag).map((p) => [p.flag!, p]));
}

export function renderReport(report: RunReport): string {
  const table = renderDecisions(report.decisions);
  const c = report.counts;
  const summary = formatTable([
    ['sessions', c.sessions], ['sessionless ops', c.sessionlessOps], ['decisions', c.decisions],
    [report.dryRun ? 'planned (dry run)' : 'killed', report.dryRun ? c.planned : c.killed],
    ...(report.dryRun ? [] : [['killed, freeing nothing', c.killedHoldingNothing] as [string, number]]), ['skipped', c.skipped], ['failed', c.failed],
    ['protected', c.protected], ['reported', c.reported], ['still running', c.stillRunning],
    ['killSessions calls', c.killSessionsCalls], ['killOp calls', c.killOpCalls], ['re-checks', report.rechecks], ['round trips', report.roundTrips],
    ['audit events', `${report.audit.sent}/${report.audit.events} sent`], ['duration', `${report.durationMs} ms`],
  ] as [string, string | number][], [{ header: 'SUMMARY', value: (r) => r[0] }, { header: '', value: (r) => r[1] }]);
  const notes = [
    ...coverageLines(report),
    report.reportOnly ? `REPORT-ONLY: ${report.reportOnlyReason}` : '',
    report.unfinished ? `UNFINISHED: ${report.unfinished}` : '',
    report.error ? `FAILED: ${report.error}` : '',
  ].filter(Boolean);
  return [`run ${report.runId} on ${report.cluster}${report.dryRun ? ' (dry run)' : ''}`, '', table, '', summary, ...(notes.length ? ['', ...notes] : [])].join('\n');
}

/** The topology and every member the pass did not read, and why: never a silent skip. */
function coverageLines(report: RunReport): string[] {
  const c = report.coverage;
  // A standalone or a one-member set fully read says nothing more than it always did.
  if (!c || (c.members.length <= 1 && c.members.every((m) => m.covered) && c.notes.length === 0)) return [];
  const read = c.members.filter((m) => m.covered).map((m) => `${m.host} ${m.state}`);
  return [
    `TOPOLOGY: ${c.topology}${c.setName ? ` "${c.setName}"` : ''}${read.length ? `; read ${read.join(', ')}` : ''}`,
    ...c.members.filter((m) => !m.covered).map((m) => `NOT COVERED: ${m.host}: ${m.why}`),
  ];
}

export interface PreparedRun {
  config: RunConfig;
  policy: PolicySet;
  json: boolean;
  /** --record FILE: the snapshot to write, opened before the pass starts; null without --record. */
  record: SnapshotWriter | null;
  recordPath: string | null;
  sightings: FileSightings;
}

/** Everything that can fail before the pass starts, checked up front: configuration, the policy set, the snapshot file. */
export async function prepareRun(argv: string[], io: CliIo): Promise<PreparedRun> {
  const { flags, extra } = splitFlags(argv);
  const config = resolveConfig(flags, io.env);
  const policy = await loadPolicyWithFlags(config.policiesDir, extra, io.env);
  if (flags['keep-values'] === true && typeof flags.record !== 'string') throw new ConfigError('--keep-values only applies to --record FILE: add --record or drop --keep-values');
  const recordPath = typeof flags.record === 'string' ? flags.record : null;
  const record = recordPath ? await SnapshotWriter.toFile(recordPath, { keepValues: flags['keep-values'] === true }) : null;
  const sightings = new FileSightings(config.stateFile || defaultStatePath(io.env));
  return { config, policy, json: flags.json === true, record, recordPath, sightings };
}

export function stderrLogger(io: Pick<CliIo, 'stderr'>): AuditLogger {
  return {
    error: (message) => void io.stderr.write(`${message}\n`),
    warn: (message) => void io.stderr.write(`${message}\n`),
  };
}

export function sinkFor(config: RunConfig, json: boolean, io: CliIo): AuditSink {
  return createAuditSink(config.audit, {
    settingName: '--audit',
    env: io.env,
    ...(config.eventBusName ? { eventBusName: config.eventBusName } : {}),
    requestTimeoutMs: config.auditRequestTimeoutSeconds * 1000,
    // With --json, stdout carries only the report: stdout audit lines move to stderr.
    stream: json ? io.stderr : io.stdout,
    logger: stderrLogger(io),
  });
}

export async function runCommand(argv: string[], io: CliIo = { stdout: process.stdout, stderr: process.stderr, env: process.env }, trigger: TriggerInfo = { type: 'cli' }): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    io.stdout.write(`${RUN_USAGE}\n`);
    return 0;
  }
  let prepared: PreparedRun;
  let sink: AuditSink;
  try {
    prepared = await prepareRun(argv, io);
    sink = sinkFor(prepared.config, prepared.json, io);
  } catch (e) {
    io.stderr.write(`session-reaper run: ${redactUri((e as Error).message)}\n`);
    return e instanceof ConfigError || e instanceof ReaperError ? EXIT.usage : EXIT.failed;
  }
  const { config, policy, json, record, sightings } = prepared;
  let mongo: MongoAdapter | null = null;
  // The reader of stdout may go away (`run | head`, a closed pipe): the write then fails with EPIPE,
  // emitted as an 'error' event that would crash the process before the exit code is set. With this
  // listener the failure reaches the writer instead: the stdout audit sink reports its events
  // undelivered (and logs them on stderr), and the report, which nobody reads any more, is dropped.
  const absorb = (): void => {};
  io.stdout.on('error', absorb);
  let recorder: RecordingMongoPort | null = null;
  try {
    mongo = await MongoAdapter.connect(config.uri, {}, config.members);
    recorder = record ? new RecordingMongoPort(mongo, record, { uri: config.uri, cluster: config.cluster, recordedBy: 'run' }) : null;
    const report = await runPass(recorder ?? mongo, policy, sink, {
      cluster: config.cluster, trigger, dryRun: config.dryRun, maxKills: config.maxKills, maxKillShare: config.maxKillShare,
      batchSize: config.batchSize, concurrency: config.concurrency, source: config.source, evaluator: config.evaluator,
      audit: auditBudget({ timeoutMs: config.auditTimeoutSeconds * 1000 }), sightings,
      progress: (line) => io.stderr.write(`${line}\n`),
      ...(recorder ? { now: recorder.clock() } : {}),
    });
    // The report is printed whatever became of the recording: the pass has run.
    const recording = recorder ? await recorder.close().then((w) => `recorded ${w.documents} documents in ${w.sections} sections to ${prepared.recordPath}`, (e: Error) => e) : null;
    await writeFully(io.stdout, json ? `${printableJson(JSON.stringify(report))}\n` : `${renderReport(report)}\n`).catch((e: unknown) => {
      if (!isClosedPipe(e)) throw e;
    });
    if (typeof recording === 'string') io.stderr.write(`session-reaper run: ${recording}\n`);
    const { code, lines } = runOutcome(report, recording instanceof Error ? recording : null);
    for (const line of lines) io.stderr.write(`session-reaper run: ${line}\n`);
    return code;
  } catch (e) {
    io.stderr.write(`session-reaper run: ${redactUri((e as Error).message)}\n`);
    return EXIT.failed;
  } finally {
    await recorder?.close().catch(() => {});
    await sink.close?.();
    await mongo?.close();
    io.stdout.off('error', absorb);
  }
}
