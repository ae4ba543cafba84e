/**
 * `session-reaper setup-role --uri URI --user NAME [--password-env VAR | --password-file PATH]
 *                            [--role-file PATH]`
 *
 * Creates the reaper's least-privilege role from infra/mongodb-role.json (the `createRole` document:
 * inprog, listSessions, killop, killAnySession, replSetGetConfig, getShardMap on the cluster, nothing more) and a user holding only
 * that role, connected as an administrator (--uri, a user with userAdminAnyDatabase or root). Then
 * it proves the result: it connects as the new user and lists sessions and operations, which is
 * what a pass needs first.
 *
 * The password never goes on the command line (where `ps` and shell history would keep it): it is
 * read from an environment variable (REAPER_DB_PASSWORD unless --password-env names another) or a
 * file (--password-file, first line), and never printed. Nothing prompts, so the command runs in CI.
 *
 * Re-running converges instead of failing: an existing role is updated to the document (updateRole),
 * an existing user is granted the role (grantRolesToUser) and keeps its password.
 *
 * Exit codes: 0 done and verified; 1 the server refused or the verification failed; 2 bad usage.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { MongoClient, type Document } from 'mongodb';
import { MongoAdapter } from '../adapters/mongodb/adapter.ts';
import { ConfigError } from '../util/errors.ts';
import { redactUri } from '../util/redact.ts';
import type { CliIo } from './run.ts';
import { shippedPath } from '../util/shipped-path.ts';

export const DEFAULT_ROLE_FILE = shippedPath('infra/mongodb-role.json');
export const DEFAULT_PASSWORD_ENV = 'REAPER_DB_PASSWORD';

export const SETUP_ROLE_USAGE = `usage: session-reaper setup-role --uri URI --user NAME [--password-env VAR | --password-file PATH] [--role-file PATH]
  --uri            connection string of an administrator (userAdminAnyDatabase or root)
  --user           the reaper's user to create on the admin database
  --password-env   environment variable holding the new user's password (default ${DEFAULT_PASSWORD_ENV})
  --password-file  file whose first line is the new user's password
  --role-file      the createRole document (default infra/mongodb-role.json)`;

/** Server error codes ("error_codes.yml" in the MongoDB server source): the role / user already exists. */
const ROLE_EXISTS = 51002;
const USER_EXISTS = 51003;

interface SetupOptions {
  uri: string;
  user: string;
  password: string;
  roleDoc: Document;
  roleName: string;
}

function options(argv: string[], env: Record<string, string | undefined>): SetupOptions {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv, allowPositionals: false, strict: true,
      options: { uri: { type: 'string' }, user: { type: 'string' }, 'password-env': { type: 'string' }, 'password-file': { type: 'string' }, 'role-file': { type: 'string' } },
    }));
  } catch (e) {
    throw new ConfigError(`${(e as Error).message}\n${SETUP_ROLE_USAGE}`);
  }
  if (!values.uri || !/^mongodb(\+srv)?:\/\//.test(values.uri)) throw new ConfigError(`--uri must be a mongodb:// or mongodb+srv:// connection string of an administrator\n${SETUP_ROLE_USAGE}`);
  if (!values.user || !/^[^@\s:/]+$/.test(values.user)) throw new ConfigError(`--user must be a user name (no "@", ":", "/" or spaces)\n${SETUP_ROLE_USAGE}`);
  if (values['password-env'] && values['password-file']) throw new ConfigError('give --password-env or --password-file, not both');
  let password: string | undefined;
  if (values['password-file']) {
    try {
      password = readFileSync(values['password-file'], 'utf8').split(/\r?\n/)[0];
    } catch (e) {
      throw new ConfigError(`cannot read --password-file ${values['password-file']}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  } else {
    const name = values['password-env'] ?? DEFAULT_PASSWORD_ENV;
    password = env[name];
    if (password === undefined || password === '') throw new ConfigError(`no password for the new user: set ${name}${values['password-env'] ? '' : ` (or pass --password-env VAR or --password-file PATH)`}`);
  }
  if (!password) throw new ConfigError('the password is empty');
  const roleFile = values['role-file'] ?? DEFAULT_ROLE_FILE;
  let roleDoc: Document;
  try {
    roleDoc = JSON.parse(readFileSync(roleFile, 'utf8'));
  } catch (e) {
    throw new ConfigError(`cannot read the role document ${roleFile}: ${(e as Error).message}`);
  }
  if (typeof roleDoc.createRole !== 'string' || !Array.isArray(roleDoc.privileges)) {
    throw new ConfigError(`${roleFile} is not a createRole document: it needs "createRole" (the role name) and "privileges"`);
  }
  return { uri: values.uri, user: values.user, password, roleDoc, roleName: roleDoc.createRole };
}

function codeOf(e: unknown): number | undefined {
  return typeof (e as { code?: unknown }).code === 'number' ? (e as { code: number }).code : undefined;
}

export async function setupRoleCommand(argv: string[], io: CliIo): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    io.stdout.write(`${SETUP_ROLE_USAGE}\n`);
    return 0;
  }
  let opts: SetupOptions;
  try {
    opts = options(argv, io.env);
  } catch (e) {
    io.stderr.write(`session-reaper setup-role: ${redactUri((e as Error).message)}\n`);
    return 2;
  }
  const say = (line: string): void => void io.stdout.write(`${line}\n`);
  const admin = new MongoClient(opts.uri, { serverSelectionTimeoutMS: 10_000 });
  try {
    await admin.connect();
    const db = admin.db('admin');
    const role = { role: opts.roleName, db: 'admin' };
    try {
      await db.command(opts.roleDoc);
      say(`role ${opts.roleName}@admin: created`);
    } catch (e) {
      if (codeOf(e) !== ROLE_EXISTS) throw e;
      const { createRole: _name, ...rest } = opts.roleDoc;
      await db.command({ updateRole: opts.roleName, ...rest });
      say(`role ${opts.roleName}@admin: existed, updated to the document`);
    }
    try {
      await db.command({ createUser: opts.user, pwd: opts.password, roles: [role] });
      say(`user ${opts.user}@admin: created with role ${opts.roleName} only`);
    } catch (e) {
      if (codeOf(e) !== USER_EXISTS) throw e;
      await db.command({ grantRolesToUser: opts.user, roles: [role] });
      say(`user ${opts.user}@admin: existed, granted role ${opts.roleName} (its password and other roles are unchanged)`);
    }
  } catch (e) {
    io.stderr.write(`session-reaper setup-role: ${redactUri((e as Error).message)}\n`);
    return 1;
  } finally {
    await admin.close();
  }

  // Verification, as the new user: the first things a pass does.
  let reaper: MongoAdapter | null = null;
  try {
    reaper = await MongoAdapter.connect(opts.uri, { auth: { username: opts.user, password: opts.password }, authSource: 'admin' });
    const me = await reaper.identity();
    let sessions = 0;
    for await (const batch of reaper.listSessions()) sessions += batch.length;
    let ops = 0;
    for await (const batch of reaper.currentOp()) ops += batch.length;
    say(`verified: connected as ${me.user || opts.user}, listed ${sessions} session(s) and ${ops} operation(s)`);
    // Through mongos: what this role covers of the shards, and what an extra grant would add.
    const hello = await reaper.client.db('admin').command({ hello: 1 });
    if (hello.msg === 'isdbgrid') {
      await reaper.discover();
      for (const line of reaper.shardedCoverage()) say(line);
    }
    return 0;
  } catch (e) {
    io.stderr.write(`session-reaper setup-role: the role and user were set up, but ${opts.user} cannot list sessions and operations: ${redactUri((e as Error).message)}\n`);
    return 1;
  } finally {
    await reaper?.close();
  }
}
