/**
 * `npx session-reaper mongod`: prints its connection string as the first line of stdout, logs connections,
 * authentications and kills to stderr, and stops cleanly on SIGTERM and SIGINT.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
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
