/**
 * `session-reaper setup-role` on the stand-in with access control: the role from
 * infra/mongodb-role.json and a user holding only it, verified by listing as that user; the password
 * never on the command line and never printed.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { MongoClient } from 'mongodb';
import { startStandin, type RunningStandin } from '../standin/src/server.ts';
import { startShardedCluster } from '../standin/src/sharding/cluster.ts';
import { setupRoleCommand } from '../src/cli/setup-role.ts';
import { main } from '../src/cli/main.ts';

const PASSWORD = 'reaper-pw-7f3a';

function capture() {
  let text = '';
  return { stream: new Writable({ write(c, _e, cb) { text += c; cb(); } }), text: () => text };
}

async function run(argv: string[], env: Record<string, string> = {}) {
  const out = capture();
  const err = capture();
  const code = await setupRoleCommand(argv, { stdout: out.stream, stderr: err.stream, env });
  return { code, stdout: out.text(), stderr: err.text() };
}

let standin: RunningStandin;
let adminUri: string;

before(async () => {
  standin = await startStandin({ params: { auth: true }, users: ['admin:admin-secret:root'] });
  adminUri = standin.uriFor('admin', 'admin-secret');
});
after(async () => standin?.stop());

test('creates the role and the user, and proves the user can list sessions and operations', async () => {
  // Act
  const r = await run(['--uri', adminUri, '--user', 'reaper'], { REAPER_DB_PASSWORD: PASSWORD });
  // Assess
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /role sessionReaper@admin: created/);
  assert.match(r.stdout, /user reaper@admin: created with role sessionReaper only/);
  assert.match(r.stdout, /verified: connected as reaper@admin, listed \d+ session\(s\) and \d+ operation\(s\)/);
  assert.ok(!r.stdout.includes(PASSWORD) && !r.stderr.includes(PASSWORD) && !r.stdout.includes('admin-secret'));
  // The user holds exactly the role, and the role exactly the four cluster actions.
  const admin = new MongoClient(adminUri);
  try {
    const info = await admin.db('admin').command({ usersInfo: 'reaper' });
    assert.deepEqual(info.users[0].roles, [{ role: 'sessionReaper', db: 'admin' }]);
  } finally {
    await admin.close();
  }
});

test('re-running converges: the existing role is updated to the document (updateRole), the user kept', async () => {
  // Prepare: the role exists from the first test, and has drifted (an extra action granted by hand).
  const admin = new MongoClient(adminUri);
  await admin.db('admin').command({ updateRole: 'sessionReaper', privileges: [{ resource: { cluster: true }, actions: ['inprog', 'shutdown'] }] });
  // Act
  const r = await run(['--uri', adminUri, '--user', 'reaper'], { REAPER_DB_PASSWORD: PASSWORD });
  // Assess
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /role sessionReaper@admin: existed, updated to the document/);
  assert.match(r.stdout, /user reaper@admin: existed, granted role sessionReaper/);
  const doc = JSON.parse(readFileSync(new URL('../infra/mongodb-role.json', import.meta.url), 'utf8'));
  const role = standin.mongod.auth.getRole({ role: 'sessionReaper', db: 'admin' });
  assert.deepEqual(role?.privileges.map((p) => [...p.actions].sort()), doc.privileges.map((p: { actions: string[] }) => [...p.actions].sort()), 'the drift is gone');
  await admin.close();
});

test('an existing user is granted the role and keeps its password', async () => {
  // Prepare: a user that exists already, and a role document of another name.
  const admin = new MongoClient(adminUri);
  await admin.db('admin').command({ createUser: 'ops-reaper', pwd: 'old-password', roles: [] });
  await admin.close();
  const dir = mkdtempSync(join(tmpdir(), 'setup-role-'));
  writeFileSync(join(dir, 'pw'), 'old-password\n');
  const role = JSON.parse(readFileSync(new URL('../infra/mongodb-role.json', import.meta.url), 'utf8'));
  writeFileSync(join(dir, 'role.json'), JSON.stringify({ ...role, createRole: 'sessionReaperOps' }));
  // Act
  const r = await run(['--uri', adminUri, '--user', 'ops-reaper', '--password-file', join(dir, 'pw'), '--role-file', join(dir, 'role.json')]);
  // Assess: the verification logs in with the old password, so it was kept.
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /user ops-reaper@admin: existed, granted role sessionReaperOps \(its password and other roles are unchanged\)/);
  assert.match(r.stdout, /verified: connected as ops-reaper@admin/);
});

test('usage and configuration mistakes exit 2 with a message, before connecting', async () => {
  assert.match((await run(['--uri', adminUri, '--user', 'x'])).stderr, /no password for the new user: set REAPER_DB_PASSWORD/);
  assert.equal((await run(['--uri', adminUri, '--user', 'x'])).code, 2);
  assert.match((await run(['--uri', 'localhost', '--user', 'x'], { REAPER_DB_PASSWORD: 'p' })).stderr, /--uri must be a mongodb:\/\//);
  assert.match((await run(['--uri', adminUri, '--user', 'x@admin'], { REAPER_DB_PASSWORD: 'p' })).stderr, /--user must be a user name/);
  assert.match((await run(['--uri', adminUri, '--user', 'x', '--password', 'p'])).stderr, /Unknown option '--password'/);
  assert.match((await run(['--uri', adminUri, '--user', 'x', '--password-env', 'PW'], {})).stderr, /no password for the new user: set PW$/m);
});

test('a refused command exits 1 with the server\'s message and no credentials', async () => {
  const r = await run(['--uri', standin.uriFor('admin', 'wrong-secret'), '--user', 'x'], { REAPER_DB_PASSWORD: 'p' });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /Authentication failed/);
  assert.ok(!r.stderr.includes('wrong-secret'));
});

test('the command is listed in the CLI', async () => {
  const out = capture();
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = out.stream.write.bind(out.stream) as never;
  try {
    await main(['--help']);
  } finally {
    process.stdout.write = write;
  }
  assert.match(out.text(), /setup-role\s+setup-role --uri URI --user NAME/);
});

test('through mongos: the verification says what the role covers of the shards and what an extra grant adds', async () => {
  // Prepare
  const cluster = await startShardedCluster({ shards: 2, members: 2, params: { auth: true }, users: ['admin:admin-secret:root'] });
  try {
    // Act
    const r = await run(['--uri', cluster.uriFor('admin', 'admin-secret'), '--user', 'reaper'], { REAPER_DB_PASSWORD: PASSWORD });
    // Assess
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /through mongos: 1 router\(s\) read alone \(localOps, \$listLocalSessions\); 4 of 4 shard member\(s\) read with one \$currentOp \{targetAllNodes\}/);
    assert.match(r.stdout, /the sessionReaper role on each shard, for a shard-local user of the same name and password, lets the reaper kill an operation outside any session on a secondary and, before 7.1, read the secondaries/);
  } finally {
    await cluster.stop();
  }
});
