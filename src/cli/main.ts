/**
 * The `session-reaper` command line: one entry, subcommands dispatched from one table.
 */
import { runMongod } from '../../standin/src/cli.ts';
import { auditCommand } from './audit.ts';
import { policiesCommand } from './policies.ts';
import { runCommand, type CliIo } from './run.ts';
import { setupRoleCommand } from './setup-role.ts';
import { redactUri } from '../util/redact.ts';

type Subcommand = (argv: string[]) => Promise<number>;

const io = (): CliIo => ({ stdout: process.stdout, stderr: process.stderr, env: process.env });

const SUBCOMMANDS: Record<string, { run: Subcommand; summary: string }> = {
  run: { run: (a) => runCommand(a, io()), summary: 'run one reaping pass: inventory, policy, plan, kill, audit' },
  policies: { run: (a) => policiesCommand(a, io()), summary: 'policies check [DIR]: validate a policy set' },
  audit: { run: (a) => auditCommand(a, io()), summary: 'review the audit trail: list and filter events, explain SESSION_ID, report --html FILE' },
  'setup-role': { run: (a) => setupRoleCommand(a, io()), summary: 'setup-role --uri URI --user NAME: create the least-privilege role and the reaper\'s user' },
  mongod: { run: (a) => runMongod(a), summary: 'start the MongoDB stand-in (wire-protocol server for tests and demos)' },
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
