/**
 * The fleet benchmark's I/O floor: each cluster's dry-run pass reduced to its round trips and requests, with
 * none of the reaper's own work. The same commands in the same order as the reaper's pass on a single node
 * (connectionStatus; $currentOp with the adapter's projection, then $listLocalSessions, then $listSessions,
 * each with its getMores) through the same driver, each batch received raw and not read; then as many audit
 * events as the reaper's pass published (prebuilt, of the decision events' shape) through the same EventBridge
 * sink and PutEvents transport. So the round as it would be if everything the reaper does itself (decoding,
 * joining, evaluating, the sightings, logs and metrics, building its events) cost nothing: a target this
 * floor misses cannot be met by any work on the reaper, on this machine. Writes its rounds as JSON to the
 * file named in argv.
 */
import { writeFileSync } from 'node:fs';
import { MongoClient, type ClientSession, type Db, type Document } from 'mongodb';
import { createEventBridgeClient, EventBridgeAuditSink } from '../src/adapters/eventbridge.ts';
import { CURRENT_OP_PROJECTION, CURRENT_OP_UNSET } from '../src/adapters/mongodb/activity.ts';
import { REAPER_APP_NAME } from '../src/adapters/mongodb/adapter.ts';
import { commandBatches } from '../src/adapters/mongodb/raw-cursor.ts';
import { fleetDecisionEvents } from './decision-events.ts';
import { together, type CpuTimes } from './fleet-round.ts';

interface Input { uris: Record<string, string>; clusters: string[]; rounds: number; events: number; endpoint: string; out: string; serversPid: number }
const input = JSON.parse(process.argv[2]!) as Input;

const sink = new EventBridgeAuditSink({ client: createEventBridgeClient({ endpoint: input.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' } }), eventBusName: 'bench' });
const events = fleetDecisionEvents(input.events);

// The reaper's client options but command monitoring (the reaper counts its round trips with it).
const clients = new Map(input.clusters.map((c) => [c, new MongoClient(input.uris[c]!, { appName: REAPER_APP_NAME })]));
await Promise.all([...clients.values()].map((c) => c.connect()));

/** A cursor command and its getMores through the adapter's raw cursor (raw-cursor.ts), each document left as its bytes. */
async function drain(db: Db, command: Document, session: ClientSession): Promise<void> {
  for await (const _batch of commandBatches(db, command, session, (bytes) => bytes)) { /* received, not read */ }
}

async function floorPass(cluster: string): Promise<number> {
  const t0 = performance.now();
  const client = clients.get(cluster)!;
  const session = client.startSession();
  try {
    const admin = client.db('admin');
    await admin.command({ connectionStatus: 1 }, { session });
    await drain(admin, { aggregate: 1, pipeline: [{ $currentOp: { allUsers: true, idleSessions: true, idleCursors: true } }, { $project: CURRENT_OP_PROJECTION }, { $unset: CURRENT_OP_UNSET }], cursor: {} }, session);
    await drain(admin, { aggregate: 1, pipeline: [{ $listLocalSessions: { allUsers: true } }], cursor: {} }, session);
    await drain(client.db('config'), { aggregate: 'system.sessions', pipeline: [{ $listSessions: { allUsers: true } }], cursor: {} }, session);
    const published = await sink.publish(events, { deadlineMs: Date.now() + 60_000 });
    if (published.failed.length > 0) throw new Error(`${published.failed.length} audit events not delivered: ${published.failed[0]!.error}`);
  } finally {
    await session.endSession();
  }
  return performance.now() - t0;
}

// Warm-up, as the reaper's case: every client connected and used once.
await together(input.clusters, floorPass, input.serversPid);
const floor = { solo: [] as number[], fleet: [] as number[], cpu: [] as CpuTimes[], passes: 0 };
for (let i = 0; i < input.rounds; i++) {
  floor.solo.push(await floorPass(input.clusters[0]!));
  const f = await together(input.clusters, floorPass, input.serversPid);
  floor.fleet.push(f.wallMs);
  floor.cpu.push(f.cpu);
}
floor.passes = input.clusters.length * (1 + input.rounds) + input.rounds;
await Promise.all([...clients.values()].map((c) => c.close()));
writeFileSync(input.out, JSON.stringify(floor));
