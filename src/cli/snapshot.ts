/**
 * `session-reaper snapshot --uri URI --out FILE [--keep-values] [--cluster NAME]`: records what the cluster
 * looks like now, as the server returns it ($currentOp and $listLocalSessions of every member a pass reads,
 * $listSessions once, the topology, the coverage and the time), into a gzip JSON-lines file for `session-reaper backtest`.
 * Reads only; kills nothing. Values are redacted unless --keep-values (docs/snapshots.md).
 *
 * Exit codes: 0 written; 1 the cluster could not be read or the file not written; 2 bad usage.
 */
import { rm, stat } from 'node:fs/promises';
import { MongoAdapter } from '../adapters/mongodb/adapter.ts';
import { SOURCES } from '../adapters/snapshot/format.ts';
import { RecordingMongoPort } from '../adapters/snapshot/recording-port.ts';
import { SnapshotWriter } from '../adapters/snapshot/writer.ts';
import { coverageGaps } from '../pass/pass.ts';
import { resolveSettings } from '../service/config.ts';
import { ConfigError } from '../util/errors.ts';
import { redactUri } from '../util/redact.ts';
import { splitFlags, type CliIo, type FlagSpec } from './run.ts';

export const SNAPSHOT_USAGE = `usage: session-reaper snapshot --uri URI --out FILE [--keep-values] [--cluster NAME]
records the raw inventory (gzip JSON lines); values are redacted unless --keep-values (credentials never appear)`;

const SNAPSHOT_FLAGS: FlagSpec = { valued: new Set(['uri', 'out', 'cluster']), booleans: new Set(['keep-values', 'help']), positionals: false, usage: SNAPSHOT_USAGE };

export async function snapshotCommand(argv: string[], io: CliIo): Promise<number> {
  let uri: string;
  let cluster: string;
  let out: string;
  let writer: SnapshotWriter;
  try {
    const { flags, extra } = splitFlags(argv, SNAPSHOT_FLAGS);
    if (flags.help === true) {
      io.stdout.write(`${SNAPSHOT_USAGE}\n`);
      return 0;
    }
    const unknown = Object.keys(extra);
    if (unknown.length) throw new ConfigError(`unknown option --${unknown[0]}\n${SNAPSHOT_USAGE}`);
    if (typeof flags.out !== 'string') throw new ConfigError(`--out FILE is required: where to write the snapshot\n${SNAPSHOT_USAGE}`);
    ({ uri, cluster } = resolveSettings(['uri', 'cluster'], flags, io.env));
    out = flags.out;
    writer = await SnapshotWriter.toFile(out, { keepValues: flags['keep-values'] === true });
  } catch (e) {
    io.stderr.write(`session-reaper snapshot: ${redactUri((e as Error).message)}\n`);
    return 2;
  }
  let mongo: MongoAdapter | null = null;
  let recorder: RecordingMongoPort | null = null;
  try {
    mongo = await MongoAdapter.connect(uri);
    recorder = new RecordingMongoPort(mongo, writer, { uri, cluster, recordedBy: 'snapshot' });
    // What the URI points at, as a pass finds it: a replica set's members are then read one by one.
    const coverage = await recorder.discover();
    await recorder.identity();
    // The listings in the order a pass reads them, each recorded as it streams by.
    for (const source of SOURCES) for await (const _batch of recorder[source]()) { /* recorded by the tap */ }
    const written = await recorder.close();
    const size = (await stat(out)).size;
    io.stdout.write(`${out}: ${written.documents} documents in ${written.sections} sections, ${(size / 1024).toFixed(1)} KiB, values ${writer.valuesKept ? 'kept (--keep-values)' : 'redacted'}\n`);
    for (const gap of coverageGaps(coverage)) io.stderr.write(`session-reaper snapshot: ${gap}\n`);
    return 0;
  } catch (e) {
    // A half-written snapshot is no snapshot: nothing is left behind to be backtested by mistake.
    await (recorder?.close() ?? writer.finish()).catch(() => {});
    await rm(out, { force: true });
    io.stderr.write(`session-reaper snapshot: ${redactUri((e as Error).message)}; no snapshot was written\n`);
    return 1;
  } finally {
    await mongo?.close();
  }
}
