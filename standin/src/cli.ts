/**
 * `session-reaper mongod [--port N] [--host H] [--auth] [--user NAME:PASSWORD:ROLE[,ROLE...]]...
 *                        [--refresh-millis N] [--txn-lifetime-seconds N] [--max-sessions N]`
 *
 * Prints the connection string as the first line of stdout once it accepts connections, logs one line per
 * connection, authentication and kill to stderr, and stops cleanly on SIGINT and SIGTERM.
 */
import { parseArgs } from 'node:util';
import { startStandin } from './server.ts';

export const MONGOD_USAGE = `usage: session-reaper mongod [--port N] [--host H] [--auth] [--user NAME:PASSWORD:ROLE[,ROLE...]]...
                             [--refresh-millis N] [--txn-lifetime-seconds N] [--max-sessions N]`;

function positiveInt(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} must be a non-negative integer, got "${v}"`);
  return n;
}

export async function runMongod(argv: string[], out = process.stdout, err = process.stderr): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        port: { type: 'string' }, host: { type: 'string' }, auth: { type: 'boolean' }, user: { type: 'string', multiple: true },
        'refresh-millis': { type: 'string' }, 'txn-lifetime-seconds': { type: 'string' }, 'max-sessions': { type: 'string' }, help: { type: 'boolean' },
      },
      strict: true,
    }));
  } catch (e) {
    err.write(`session-reaper mongod: ${(e as Error).message}\n${MONGOD_USAGE}\n`);
    return 2;
  }
  if (values.help) {
    out.write(`${MONGOD_USAGE}\n`);
    return 0;
  }
  let standin;
  try {
    const users = values.user ?? [];
    if (values.auth && users.length === 0) {
      throw new Error('--auth needs at least one --user NAME:PASSWORD:ROLE (for example --user admin:secret:root), or clients cannot log in');
    }
    standin = await startStandin({
      port: positiveInt('port', values.port) ?? 27017,
      host: values.host ?? '127.0.0.1',
      users,
      params: {
        auth: values.auth === true,
        ...(values['refresh-millis'] ? { logicalSessionRefreshMillis: positiveInt('refresh-millis', values['refresh-millis']) } : {}),
        ...(values['txn-lifetime-seconds'] ? { transactionLifetimeLimitSeconds: positiveInt('txn-lifetime-seconds', values['txn-lifetime-seconds']) } : {}),
        ...(values['max-sessions'] ? { maxSessions: positiveInt('max-sessions', values['max-sessions']) } : {}),
      },
      log: (line) => err.write(`${new Date().toISOString()} ${line}\n`),
    });
  } catch (e) {
    err.write(`session-reaper mongod: ${(e as Error).message}\n`);
    return 1;
  }
  out.write(`${standin.uri}\n`);
  err.write(`${new Date().toISOString()} stand-in mongod listening on ${standin.uri}${values.auth ? ' (auth on)' : ''}\n`);
  await new Promise<void>((resolve) => {
    const stop = (sig: string) => {
      err.write(`${new Date().toISOString()} ${sig}: shutting down\n`);
      resolve();
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  await standin.stop();
  return 0;
}
