/**
 * `npx session-reaper mongod`: prints its connection string as the first line of stdout, logs connections,
 * authentications and kills to stderr, and stops cleanly on SIGTERM and SIGINT; with --replset, takes
 * member commands on stdin.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { MongoClient } from 'mongodb';

const BIN = fileURLToPath(new URL('../../bin/session-reaper.mjs', import.meta.url));

async function startCli(args: string[]) {
  const child = spawn(process.execPath, [BIN, 'mongod', '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const lines = createInterface({ input: child.stdout });
  const [first] = (await once(lines, 'line')) as [string];
  return { child, uri: first, stderr: () => stderr };
}

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  test(`mongod prints its URI first, logs to stderr, and stops cleanly on ${signal}`, async () => {
    // Prepare
    const { child, uri, stderr } = await startCli(['--auth', '--user', 'admin:pw:root']);
    assert.match(uri, /^mongodb:\/\/127\.0\.0\.1:\d+\//);
    const u = new URL(uri.replace(/^mongodb:/, 'http:'));
    // Act
    const client = new MongoClient(`mongodb://admin:pw@${u.host}/?directConnection=true&authSource=admin`);
    await client.connect();
    await client.db('admin').command({ killSessions: [] });
    await client.close();
    child.kill(signal);
    const [code] = await once(child, 'exit');
    // Assess
    assert.equal(code, 0);
    assert.match(stderr(), /connection accepted/);
    assert.match(stderr(), /auth: admin@admin authenticated/);
    assert.match(stderr(), /kill: killSessions by admin@admin/);
    assert.match(stderr(), new RegExp(`${signal}: shutting down`));
  });
}

test('mongod --auth without --user is refused with a message saying what to add', async () => {
  const child = spawn(process.execPath, [BIN, 'mongod', '--port', '0', '--auth'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const [code] = await once(child, 'exit');
  assert.equal(code, 1);
  assert.match(stderr, /--auth needs at least one --user NAME:PASSWORD:ROLE/);
});

/** stderr read line by line from the start; next(pattern) waits for the next line matching it. */
function stderrLines(child: ReturnType<typeof spawn>) {
  const seen: string[] = [];
  let wake: (() => void) | null = null;
  let ended = false;
  const rl = createInterface({ input: child.stderr! });
  rl.on('line', (l) => (seen.push(l), wake?.()));
  rl.on('close', () => ((ended = true), wake?.()));
  let from = 0;
  return async function next(pattern: RegExp): Promise<string> {
    for (;;) {
      const i = seen.findIndex((l, k) => k >= from && pattern.test(l));
      if (i >= 0) {
        from = i + 1;
        return seen[i];
      }
      if (ended) throw new Error(`stderr ended without ${pattern}`);
      await new Promise<void>((r) => (wake = r));
    }
  };
}

test('mongod --replset prints the set\'s URI, and stop/start on stdin take a member down and up', async () => {
  // Prepare
  const child = spawn(process.execPath, [BIN, 'mongod', '--port', '0', '--replset', 'rs0'], { stdio: ['pipe', 'pipe', 'pipe'] });
  const stderrLine = stderrLines(child);
  const [uri] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string];
  try {
    assert.match(uri, /^mongodb:\/\/127\.0\.0\.1:\d+,127\.0\.0\.1:\d+,127\.0\.0\.1:\d+\/\?replicaSet=rs0$/);
    const hosts = uri.slice('mongodb://'.length, uri.indexOf('/?')).split(',');
    const client = new MongoClient(uri, { serverSelectionTimeoutMS: 5000 });
    await client.connect();
    const hello = await client.db('admin').command({ hello: 1 });
    await client.close();
    // Act
    child.stdin!.write('stop 2\n');
    const stopped = await stderrLine(/member 2 .* DOWN/);
    const refusedWhileStopped = await new Promise<boolean>((resolve) => {
      const [, port] = hosts[2].split(':');
      const s = net.connect(Number(port), '127.0.0.1');
      s.once('connect', () => (s.destroy(), resolve(false)));
      s.once('error', () => resolve(true));
    });
    child.stdin!.write('start 2\n');
    const started = await stderrLine(/member 2 .* SECONDARY/);
    child.stdin!.write('stop 7\n');
    const unknown = await stderrLine(/no member 7/);
    // Assess
    assert.deepEqual(hello.hosts, hosts);
    assert.match(stopped, new RegExp(hosts[2]));
    assert.equal(refusedWhileStopped, true);
    assert.match(started, new RegExp(hosts[2]));
    assert.match(unknown, /the set has members 0\.\.2/);
  } finally {
    child.kill('SIGTERM');
    const [code] = await once(child, 'exit');
    assert.equal(code, 0);
  }
});

test('mongod --replset --members 1 is a one-member set; --members without --replset is refused', async () => {
  const child = spawn(process.execPath, [BIN, 'mongod', '--port', '0', '--replset', 'solo', '--members', '1'], { stdio: ['pipe', 'pipe', 'ignore'] });
  const [uri] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string];
  child.kill('SIGTERM');
  await once(child, 'exit');
  assert.match(uri, /^mongodb:\/\/127\.0\.0\.1:\d+\/\?replicaSet=solo$/);
  const bad = spawn(process.execPath, [BIN, 'mongod', '--port', '0', '--members', '2'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  bad.stderr.on('data', (d) => (stderr += d));
  const [code] = await once(bad, 'exit');
  assert.equal(code, 1);
  assert.match(stderr, /--members and --hidden describe a replica set: add --replset NAME/);
});

test('mongod --shards prints the routers\' URI; the routers answer as mongos; stop/start on stdin take a router and a shard member down and up', async () => {
  // Prepare
  const child = spawn(process.execPath, [BIN, 'mongod', '--port', '0', '--shards', '2', '--members', '2', '--routers', '2'], { stdio: ['pipe', 'pipe', 'pipe'] });
  const stderrLine = stderrLines(child);
  const [uri] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string];
  try {
    assert.match(uri, /^mongodb:\/\/127\.0\.0\.1:\d+,127\.0\.0\.1:\d+\/$/);
    const routers = uri.slice('mongodb://'.length, -1).split(',');
    const client = new MongoClient(uri, { serverSelectionTimeoutMS: 5000 });
    await client.connect();
    const hello = await client.db('admin').command({ hello: 1 });
    const map = await client.db('admin').command({ getShardMap: 1 });
    await client.close();
    const status = await stderrLine(/router 0 .* UP; router 1 .* UP; shard0 member 0 .* PRIMARY; shard0 member 1 .* SECONDARY; shard1 member 0/);
    // Act
    child.stdin!.write('stop router 1\n');
    const routerDown = await stderrLine(/router 1 .* DOWN/);
    child.stdin!.write('start router 1\n');
    const routerUp = await stderrLine(/router 1 .* UP/);
    child.stdin!.write('stop shard1 1\n');
    const memberDown = await stderrLine(/shard1 member 1 .* DOWN/);
    child.stdin!.write('stop shard7 0\n');
    const unknown = await stderrLine(/no shard shard7/);
    // Assess
    assert.equal(hello.msg, 'isdbgrid');
    assert.deepEqual(Object.keys(map.map), ['shard0', 'shard1']);
    assert.ok(status.includes(routers[0]!) && status.includes(routers[1]!));
    assert.match(routerDown, new RegExp(routers[1]!));
    assert.match(routerUp, new RegExp(routers[1]!));
    assert.match(memberDown, new RegExp(String(map.map.shard1).split(',')[1]!));
    assert.match(unknown, /the shards are shard0, shard1/);
  } finally {
    child.kill('SIGTERM');
    const [code] = await once(child, 'exit');
    assert.equal(code, 0);
  }
});

test('mongod --routers without --shards, and --replset with --shards, are refused', async () => {
  for (const [args, message] of [
    [['--routers', '2'], /--routers and --shard-user describe a sharded cluster: add --shards K/],
    [['--replset', 'rs0', '--shards', '2'], /--replset and --shards are two topologies/],
  ] as const) {
    const bad = spawn(process.execPath, [BIN, 'mongod', '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    bad.stderr.on('data', (d) => (stderr += d));
    const [code] = await once(bad, 'exit');
    assert.equal(code, 1);
    assert.match(stderr, message);
  }
});
