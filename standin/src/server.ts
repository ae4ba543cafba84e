/**
 * Starting a stand-in node: one Mongod behind one TCP listener. startStandin() is the single node (the primary
 * of a one-member replica set, reached with directConnection=true); replset.ts starts several members on the
 * same pieces.
 */
import net from 'node:net';
import { AuthRegistry } from './auth.ts';
import { systemClock, type Clock } from './clock.ts';
import { Connection } from './connection.ts';
import { adminCommands, REPLICA_SET_NAME } from './commands/admin.ts';
import { crudCommands } from './commands/crud.ts';
import { indexCommands } from './commands/indexes.ts';
import { killCommands } from './commands/kill.ts';
import { replCommands } from './commands/repl.ts';
import { sessionCommands } from './commands/sessions.ts';
import { txnCommands } from './commands/txn.ts';
import { userCommands } from './commands/users.ts';
import { Mongod, type Logger, type MongodOptions, type MongodParams } from './mongod.ts';
import { memberConfigs, ReplicaMember, ReplicaSetTopology } from './replication.ts';

export interface StandinOptions {
  port?: number;
  host?: string;
  params?: Partial<MongodParams>;
  /** Users created at start: "name:password:role[,role...]" or objects; roles are on admin unless "role@db". */
  users?: UserSpec[];
  log?: Logger;
  /** Where every reported or compared time comes from (default: the system clock); see ManualClock. */
  clock?: Clock;
  /** A simulated network: every reply is sent this many ms after it is ready (default 0). */
  replyLatencyMs?: number;
}

export type UserSpec = string | { user: string; password: string; roles: string[]; db?: string };

export interface RunningStandin {
  readonly uri: string;
  readonly port: number;
  readonly mongod: Mongod;
  /** A connection string for a user created at start. */
  uriFor(user: string, password: string, authSource?: string): string;
  stop(): Promise<void>;
}

function parseUserSpec(spec: UserSpec): { user: string; password: string; roles: { role: string; db: string }[]; db: string } {
  if (typeof spec !== 'string') {
    return { user: spec.user, password: spec.password, db: spec.db ?? 'admin', roles: spec.roles.map((r) => roleOf(r)) };
  }
  const [user, password, roles = ''] = spec.split(':');
  if (!user || password === undefined) throw new Error(`--user must be NAME:PASSWORD:ROLE[,ROLE...], got "${spec}"`);
  return { user, password, db: 'admin', roles: roles.split(',').filter(Boolean).map((r) => roleOf(r)) };
}

function roleOf(r: string): { role: string; db: string } {
  const at = r.indexOf('@');
  return at < 0 ? { role: r, db: 'admin' } : { role: r.slice(0, at), db: r.slice(at + 1) };
}

/** A Mongod with every command registered. */
export function createMongod(opts: MongodOptions): Mongod {
  const mongod = new Mongod(opts);
  mongod.register([...adminCommands, ...userCommands, ...sessionCommands, ...killCommands, ...crudCommands, ...txnCommands, ...replCommands, ...indexCommands]);
  return mongod;
}

export function createUsers(auth: AuthRegistry, users: UserSpec[]): void {
  for (const spec of users) {
    const u = parseUserSpec(spec);
    auth.createUser(u.user, u.db, u.password, u.roles);
  }
}

/**
 * The TCP listener of one node. close() is what a crash looks like from outside: the port refuses
 * connections and every open connection is cut.
 */
export class NodeListener {
  private server: net.Server | null = null;
  private readonly sockets = new Set<net.Socket>();

  constructor(readonly host: string, private readonly replyLatencyMs = 0) {
    if (!Number.isFinite(replyLatencyMs) || replyLatencyMs < 0) throw new Error(`reply latency must be a non-negative number of ms, got ${replyLatencyMs}`);
  }

  async listen(port: number, mongod: Mongod): Promise<number> {
    let nextConnId = 1;
    const server = net.createServer((socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      const id = nextConnId++;
      const remote = `${socket.remoteAddress?.replace(/^::ffff:/, '')}:${socket.remotePort}`;
      const conn = new Connection(id, remote, socket, mongod, this.replyLatencyMs);
      mongod.connections.set(id, conn);
      mongod.stats.connectionsCreated++;
      mongod.log(`connection accepted: conn${id} from ${remote} (${mongod.connections.size} open)`);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e: NodeJS.ErrnoException) => {
        reject(e.code === 'EADDRINUSE' ? new Error(`port ${port} on ${this.host} is in use: pick another --port, or --port 0 for a free one`) : e);
      });
      server.listen(port, this.host, () => resolve());
    });
    this.server = server;
    return (server.address() as net.AddressInfo).port;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

export async function startStandin(opts: StandinOptions = {}): Promise<RunningStandin> {
  const clock = opts.clock ?? systemClock;
  const mongod = createMongod({ params: opts.params, log: opts.log, clock });
  createUsers(mongod.auth, opts.users ?? []);
  const host = opts.host ?? '127.0.0.1';
  const listener = new NodeListener(host, opts.replyLatencyMs);
  const port = await listener.listen(opts.port ?? 0, mongod);
  mongod.hostAndPort = `${host}:${port}`;
  const topology = new ReplicaSetTopology(REPLICA_SET_NAME, memberConfigs([mongod.hostAndPort], []), clock, false);
  mongod.member = new ReplicaMember(topology, 0);
  topology.attach(0, mongod);
  mongod.startBackgroundJobs();
  // directConnection: the replica-set hello lists this host:port, which a client using "localhost" would not match.
  const uri = `mongodb://${host}:${port}/?directConnection=true`;
  return {
    uri,
    port,
    mongod,
    uriFor: (user, password, authSource = 'admin') =>
      `mongodb://${encodeURIComponent(user)}:${encodeURIComponent(password)}@${host}:${port}/?directConnection=true&authSource=${encodeURIComponent(authSource)}`,
    stop: async () => {
      mongod.stopBackgroundJobs();
      await listener.close();
    },
  };
}
