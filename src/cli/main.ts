/**
 * The `session-reaper` command line: one entry, subcommands dispatched from one table.
 *
 * Each subcommand's module is imported when it runs, not before: `policies check` then never loads the
 * MongoDB driver or the AWS SDK (about a quarter of a second of start-up for nothing), and the build
 * (scripts/build.mjs) puts each subcommand in its own chunk.
 */
import type { CliIo } from './run.ts';
import { redactUri } from '../util/redact.ts';

type Subcommand = (argv: string[]) => Promise<number>;

const io = (): CliIo => ({ stdout: process.stdout, stderr: process.stderr, env: process.env });

const SUBCOMMANDS: Record<string, { run: Subcommand; summary: string }> = {
  run: { run: async (a) => (await import('./run.ts')).runCommand(a, io()), summary: 'run one reaping pass: inventory, policy, plan, kill, audit' },
  policies: { run: async (a) => (await import('./policies.ts')).policiesCommand(a, io()), summary: 'policies check [DIR]: validate a policy set; policies test [DIR]: run its test cases' },
  snapshot: { run: async (a) => (await import('./snapshot.ts')).snapshotCommand(a, io()), summary: 'snapshot --uri URI --out FILE: record the raw inventory for backtests (values redacted)' },
  backtest: { run: async (a) => (await import('./backtest.ts')).backtestCommand(a, io()), summary: 'backtest --policies DIR [--compare DIR2] SNAPSHOT...: decide on recorded snapshots, offline' },
  audit: { run: async (a) => (await import('./audit.ts')).auditCommand(a, io()), summary: 'review the audit trail: list and filter events, explain SESSION_ID, report --html FILE' },
  'setup-role': { run: async (a) => (await import('./setup-role.ts')).setupRoleCommand(a, io()), summary: 'setup-role --uri URI --user NAME: create the least-privilege role and the reaper\'s user' },
  mongod: { run: async (a) => (await import('../../standin/src/cli.ts')).runMongod(a), summary: 'start the MongoDB stand-in (wire-protocol server for tests and demos)' },
};

export function usage(): string {
  const width = Math.max(...Object.keys(SUBCOMMANDS).map((k) => k.length));
  return ['usage: session-reaper <command> [options]', '', 'commands:',
    ...Object.entries(SUBCOMMANDS).map(([k, v]) => `  ${k.padEnd(width)}  ${v.summary}`)].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    process.stdout.write(`${usage()}\n`);
    return cmd ? 0 : 2;
  }
  const sub = SUBCOMMANDS[cmd];
  if (!sub) {
    process.stderr.write(`session-reaper: unknown command "${cmd}"\n${usage()}\n`);
    return 2;
  }
  try {
    return await sub.run(rest);
  } catch (e) {
    // A subcommand reports its own errors; this is the net for a bug, which must not print a password either.
    process.stderr.write(`session-reaper ${cmd}: ${redactUri((e as Error)?.stack ?? String(e))}\n`);
    return 1;
  }
}
