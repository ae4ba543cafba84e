/**
 * Stand-in scale benchmark: memory held by one million sessions, and the time to list 100,000 sessions
 * through the official driver ($listSessions, streamed in batches).
 *
 *   npm run bench:standin            (node --expose-gc, so the heap is measured after a full collection)
 */
import { MongoClient } from 'mongodb';
import { startStandin } from '../standin/src/server.ts';
import { formatTable } from '../src/util/table.ts';
import { commandBatches } from '../src/adapters/mongodb/raw-cursor.ts';
import { readListedSession } from '../src/adapters/mongodb/session-doc-reader.ts';

const gc = (globalThis as { gc?: () => void }).gc;
const heap = (): number => {
  gc?.();
  gc?.();
  return process.memoryUsage().heapUsed;
};
const mb = (n: number) => (n / 1048576).toFixed(1);

const rows: [string, string][] = [];

// 1. Listing 100,000 sessions through the driver.
{
  const s = await startStandin();
  const c = new MongoClient(s.uri);
  await c.connect();
  await c.db('admin').command({ standinBulkCreateSessions: 100_000, users: [{ user: 'app', db: 'admin' }], seed: 1, lastUseAgeSeconds: { min: 0, max: 1500 } /* under the 30-minute session timeout with room for a slow run: the TTL pass must not delete seeded sessions mid-benchmark */ });
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    let n = 0;
    for await (const _ of c.db('config').collection('system.sessions').aggregate([{ $listSessions: { allUsers: true } }])) n++;
    times.push(performance.now() - t0);
    if (n !== 100_000) throw new Error(`listed ${n} sessions, expected 100000`);
  }
  times.sort((a, b) => a - b);
  rows.push(['$listSessions of 100,000 through the driver, documents iterated (median of 5)', `${times[2]!.toFixed(0)} ms`]);
  rows.push(['  best / worst', `${times[0]!.toFixed(0)} / ${times[4]!.toFixed(0)} ms`]);
  // The reaper's path: raw batch arrays read straight from the reply (src/adapters/mongodb/raw-cursor.ts).
  const raw: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    let n = 0;
    const session = c.startSession();
    const command = { aggregate: 'system.sessions', pipeline: [{ $listSessions: { allUsers: true } }], cursor: {} };
    for await (const batch of commandBatches(c.db('config'), command, session, readListedSession)) n += batch.length;
    await session.endSession();
    raw.push(performance.now() - t0);
    if (n !== 100_000) throw new Error(`listed ${n} sessions, expected 100000`);
  }
  raw.sort((a, b) => a - b);
  rows.push(['$listSessions of 100,000 through the driver, raw batches read by the reaper (median of 5)', `${raw[2]!.toFixed(0)} ms`]);
  await c.close();
  await s.stop();
}

// 2. Memory held by one million sessions (heap after GC, before and after bulk creation). maxSessions is
// raised a little above the server's default 1,000,000 so the benchmark's own driver sessions still fit.
{
  const s = await startStandin({ params: { maxSessions: 1_010_000 } });
  const c = new MongoClient(s.uri);
  await c.connect();
  const before = heap();
  const t0 = performance.now();
  for (let i = 0; i < 10; i++) {
    await c.db('admin').command({ standinBulkCreateSessions: 100_000, users: [{ user: 'app', db: 'admin' }, { user: 'etl', db: 'admin' }], seed: i + 1, lastUseAgeSeconds: { min: 0, max: 1500 } });
  }
  const created = performance.now() - t0;
  const after = heap();
  rows.push(['sessions created', (await c.db('admin').command({ serverStatus: 1 })).standin.sessions.toLocaleString('en-US')]);
  rows.push(['bulk creation of 1,000,000', `${created.toFixed(0)} ms`]);
  rows.push(['heap held by 1,000,000 sessions', `${mb(after - before)} MB (${((after - before) / 1e6).toFixed(0)} bytes/session)`]);
  rows.push(['process RSS with 1,000,000 sessions', `${mb(process.memoryUsage().rss)} MB`]);
  if (!gc) rows.push(['note', 'run with node --expose-gc for heap figures after collection']);
  await c.close();
  await s.stop();
}

console.log(formatTable(rows, [{ header: 'MEASURE', value: (r) => r[0] }, { header: 'RESULT', value: (r) => r[1] }]));
