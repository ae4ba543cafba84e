/**
 * connectDirect (src/adapters/mongodb/members.ts): a direct client to a member fails as soon as its monitor's hello
 * fails, not when server selection gives up; a member that accepts the connection but does not answer still has
 * the client's connectTimeoutMS before it is reported.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { MongoClient } from 'mongodb';
import { connectDirect } from '../src/adapters/mongodb/members.ts';

const SELECTION_MS = 10_000;

async function listening(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

describe('connectDirect', () => {
  const sockets: Socket[] = [];
  const servers: Server[] = [];
  after(async () => {
    for (const s of sockets) s.destroy();
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  });

  test('a member that refuses connections fails at once, well before server selection would give up', async () => {
    // Prepare: a port that was listening and is closed now refuses connections.
    const server = createServer();
    const port = await listening(server);
    await new Promise((r) => server.close(r));
    const client = new MongoClient(`mongodb://127.0.0.1:${port}/?directConnection=true`, { serverSelectionTimeoutMS: SELECTION_MS, connectTimeoutMS: SELECTION_MS });
    const started = performance.now();
    // Act
    const error = await connectDirect(client).then(() => null, (e: Error) => e);
    const ms = performance.now() - started;
    await client.close();
    // Assess
    assert.match(error?.message ?? '', /ECONNREFUSED/);
    assert.ok(ms < SELECTION_MS / 2, `failed after ${Math.round(ms)} ms`);
  });

  test('a member that accepts but does not answer hello has connectTimeoutMS, then fails with a timeout', async () => {
    // Prepare: a server that accepts connections and never replies.
    const server = createServer((socket) => sockets.push(socket));
    servers.push(server);
    const port = await listening(server);
    const connectTimeoutMS = 300;
    const client = new MongoClient(`mongodb://127.0.0.1:${port}/?directConnection=true`, { serverSelectionTimeoutMS: SELECTION_MS, connectTimeoutMS });
    const started = performance.now();
    // Act
    const error = await connectDirect(client).then(() => null, (e: Error) => e);
    const ms = performance.now() - started;
    await client.close();
    // Assess: not reported down before its time, and not waited for past it.
    assert.match(error?.message ?? '', /timed out/i);
    assert.ok(ms >= connectTimeoutMS - 10, `failed after ${Math.round(ms)} ms, before connectTimeoutMS`);
    assert.ok(ms < SELECTION_MS / 2, `failed after ${Math.round(ms)} ms`);
  });
});
