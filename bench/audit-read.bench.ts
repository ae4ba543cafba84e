/**
 * Not a test: time and peak memory of `session-reaper audit` reading a JSON-lines file of audit
 * events, at 100,000 and 1,000,000 events, so the two peaks show whether memory grows with the
 * input (it must not: the file is streamed).
 *
 *   node --import tsx bench/audit-read.bench.ts [--events 1000000] [--dir DIR]
 *
 * The files are made once with the reaper's own event builder (test/support/audit-history.ts, five
 * events a pass) and kept in DIR (default: the system temp directory) for later runs. Each
 * measurement runs the real command in a fresh process, output to /dev/null, and reads the
 * process's own peak resident set size (getrusage maxrss) when it is done.
 */
import { spawnSync } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { auditCommand } from '../src/cli/audit.ts';
import { syntheticHistory, writeJsonLines } from '../test/support/audit-history.ts';

const { values } = parseArgs({
  options: { events: { type: 'string' }, dir: { type: 'string' }, child: { type: 'string' }, result: { type: 'string' } },
  allowPositionals: true,
});

/** Child mode: run the command once, write { ms, maxRssMiB, code } to the result file. */
if (values.child !== undefined) {
  const args = JSON.parse(values.child) as string[];
  const devnull = createWriteStream('/dev/null');
  const started = performance.now();
  const code = await auditCommand(args, { stdout: devnull, stderr: process.stderr, env: process.env });
  const ms = performance.now() - started;
  await new Promise((r) => devnull.end(r));
  // maxRSS is in kilobytes.
  const maxRssMiB = process.resourceUsage().maxRSS / 1024;
  await import('node:fs').then((fs) => fs.writeFileSync(values.result!, JSON.stringify({ ms, maxRssMiB, code })));
  process.exit(0);
}

const largest = Number(values.events ?? 1_000_000);
const dir = values.dir ?? join(tmpdir(), 'session-reaper-bench');
mkdirSync(dir, { recursive: true });

async function fileOf(events: number): Promise<string> {
  const path = join(dir, `audit-${events}.jsonl`);
  if (existsSync(path)) return path;
  process.stderr.write(`generating ${events.toLocaleString('en-US')} events into ${path}...\n`);
  const partial = `${path}.partial`;
  await writeJsonLines(partial, syntheticHistory(events));
  renameSync(partial, path);
  return path;
}

interface Result {
  ms: number;
  maxRssMiB: number;
  code: number;
}

function measure(args: string[], nodeArgs: string[] = []): Result {
  const result = join(dir, `result-${process.pid}.json`);
  const child = spawnSync(process.execPath, [...nodeArgs, '--import', 'tsx', new URL(import.meta.url).pathname, '--child', JSON.stringify(args), '--result', result], {
    stdio: ['ignore', 'inherit', 'pipe'],
    encoding: 'utf8',
  });
  if (child.status !== 0) throw new Error(`child failed (${child.status}): ${child.stderr.slice(-2000)}`);
  const parsed = JSON.parse(readFileSync(result, 'utf8')) as Result;
  rmSync(result, { force: true });
  return parsed;
}

const sizes = [...new Set([Math.min(100_000, largest), largest])];
const modes: [string, (file: string, html: string) => string[], string[]?][] = [
  ['table (default output)', (f) => ['--file', f]],
  // The same with the V8 heap capped far below the input: completes only if nothing is kept per event.
  ['table, heap capped at 64 MiB', (f) => ['--file', f], ['--max-old-space-size=64']],
  ['--csv', (f) => ['--file', f, '--csv']],
  ['--json', (f) => ['--file', f, '--json']],
  ['--outcome failed --user user7@admin', (f) => ['--file', f, '--outcome', 'failed', '--user', 'user7@admin']],
  ['report --html', (f, html) => ['report', '--html', html, '--file', f]],
];

const rows: string[] = [];
for (const events of sizes) {
  const file = await fileOf(events);
  const mib = statSync(file).size / 2 ** 20;
  for (const [name, args, nodeArgs] of modes) {
    const html = join(dir, `report-${events}.html`);
    const r = measure(args(file, html), nodeArgs);
    const rate = Math.round(events / (r.ms / 1000));
    rows.push(`| ${events.toLocaleString('en-US')} (${mib.toFixed(0)} MiB) | ${name} | ${(r.ms / 1000).toFixed(1)} s | ${rate.toLocaleString('en-US')}/s | ${r.maxRssMiB.toFixed(0)} MiB | ${r.code} |`);
    process.stderr.write(`${rows.at(-1)}\n`);
  }
}
process.stdout.write(`\n| events (file size) | command | time | events/s | peak RSS | exit |\n|---|---|---|---|---|---|\n${rows.join('\n')}\n`);
