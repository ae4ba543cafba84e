/**
 * The TCP side: framing, the legacy OP_QUERY handshake, OP_MSG, and one sequential command queue per
 * connection (mongod runs one thread per client connection, so a connection's commands never overlap).
 *
 * Bad input never takes the server down: malformed BSON and unknown opcodes get the server's error reply,
 * a message whose declared length is below 16 bytes or above maxMessageSizeBytes closes that connection
 * (as mongod's transport layer does: "recv(): message msgLen ... is invalid"), and other connections carry on.
 */
import net from 'node:net';
import { BSON, type Document } from 'bson';
import { CommandError, toErrorReply } from './errors.ts';
import { adminCommands } from './commands/admin.ts';
import { crudCommands } from './commands/crud.ts';
import { indexCommands } from './commands/indexes.ts';
import { killCommands } from './commands/kill.ts';
import { sessionCommands } from './commands/sessions.ts';
import { txnCommands } from './commands/txn.ts';
import { userCommands } from './commands/users.ts';
import { Mongod, type ConnState, type Logger, type MongodParams } from './mongod.ts';
import { encodeMsgReply, encodeOpReply, HEADER_SIZE, MAX_MESSAGE_SIZE_BYTES, parseMessage, FLAG_MORE_TO_COME } from './wire.ts';

export interface StandinOptions {
  port?: number;
  host?: string;
  params?: Partial<MongodParams>;
  /** Users created at start: "name:password:role[,role...]" or objects; roles are on admin unless "role@db". */
  users?: (string | { user: string; password: string; roles: string[]; db?: string })[];
  log?: Logger;
}

export interface RunningStandin {
  readonly uri: string;
  readonly port: number;
  readonly mongod: Mongod;
  /** A connection string for a user created at start. */
  uriFor(user: string, password: string, authSource?: string): string;
  stop(): Promise<void>;
}

function parseUserSpec(spec: StandinOptions['users'] extends (infer T)[] | undefined ? T : never): { user: string; password: string; roles: { role: string; db: string }[]; db: string } {
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

class Connection implements ConnState {
  clientMetadata: Document | null = null;
  appName = '';
  user: { user: string; db: string } | null = null;
  readonly scram = new Map();
  private chunks: Buffer[] = [];
  private buffered = 0;
  private queue: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(readonly id: number, readonly remote: string, private readonly socket: net.Socket, private readonly mongod: Mongod) {
    socket.setNoDelay(true);
    socket.on('data', (d) => this.onData(d));
    socket.on('error', () => this.close());
    socket.on('close', () => this.onClose());
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.destroy();
  }

  private onClose(): void {
    this.closed = true;
    this.mongod.connections.delete(this.id);
    this.mongod.log(`connection ended: conn${this.id} ${this.remote} (${this.mongod.connections.size} open)`);
  }

  private onData(data: Buffer): void {
    this.chunks.push(data);
    this.buffered += data.length;
    while (this.buffered >= 4) {
      const head = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks);
      this.chunks = [head];
      const length = head.readInt32LE(0);
      if (length < HEADER_SIZE || length > MAX_MESSAGE_SIZE_BYTES) {
        this.mongod.log(`conn${this.id}: recv(): message msgLen ${length} is invalid. Min ${HEADER_SIZE} Max: ${MAX_MESSAGE_SIZE_BYTES}; closing the connection`);
        this.close();
        return;
      }
      if (this.buffered < length) return;
      const message = head.subarray(0, length);
      const rest = head.subarray(length);
      this.chunks = rest.length ? [rest] : [];
      this.buffered = rest.length;
      this.queue = this.queue.then(() => this.handle(message)).catch((e) => {
        this.mongod.log(`conn${this.id}: internal error: ${(e as Error).stack ?? e}`);
      });
    }
  }

  private write(parts: Uint8Array[]): void {
    if (this.closed) return;
    for (const p of parts) this.socket.write(p);
  }

  private async handle(message: Buffer): Promise<void> {
    if (this.closed) return;
    const requestId = message.readInt32LE(4);
    const opCode = message.readInt32LE(12);
    let parsed;
    try {
      parsed = parseMessage(message);
    } catch (e) {
      const err = e instanceof CommandError ? e : new CommandError(22, 'InvalidBSON', String((e as Error).message));
      const body = BSON.serialize(toErrorReply(err));
      this.write(opCode === 2004 ? encodeOpReply(requestId, body) : encodeMsgReply(requestId, body));
      return;
    }
    if (parsed.kind === 'unsupported') {
      // Opcodes removed in 5.1/6.0 (OP_INSERT, OP_GET_MORE, ...) and unknown ones: the server answers with an
      // error document rather than crashing (service_entry_point_common.cpp receivedCommands / "Unsupported opcode").
      const body = BSON.serialize({ ok: 0, errmsg: `Unsupported opcode ${parsed.opCode}; use OP_MSG`, code: 5739101, codeName: 'Location5739101' });
      this.write(encodeMsgReply(requestId, body));
      return;
    }
    if (parsed.kind === 'query') {
      const cmd = parsed.command;
      const name = Object.keys(cmd)[0];
      let reply: Document;
      if (!parsed.fullCollectionName.endsWith('.$cmd')) {
        reply = { ok: 0, errmsg: 'OP_QUERY is no longer supported for queries; use OP_MSG', code: 5739101, codeName: 'Location5739101' };
      } else if (name !== 'isMaster' && name !== 'ismaster' && name !== 'hello') {
        // mongod 6.0+: only the handshake is accepted over OP_QUERY (UnsupportedOpQueryCommand 352).
        reply = { ok: 0, errmsg: `Unsupported OP_QUERY command: ${name}. The client driver may require an upgrade. For more details see https://dochub.mongodb.org/core/legacy-opcode-removal`, code: 352, codeName: 'UnsupportedOpQueryCommand' };
      } else {
        const db = parsed.fullCollectionName.slice(0, -'.$cmd'.length);
        reply = await this.mongod.dispatch(this, { ...cmd, $db: db });
      }
      this.write(encodeOpReply(requestId, serializeReply(reply)));
      return;
    }
    const reply = await this.mongod.dispatch(this, parsed.command);
    if (reply.$closed) return;
    // moreToCome from the client: fire-and-forget (w:0 writes); no reply is sent.
    if (parsed.flagBits & FLAG_MORE_TO_COME) return;
    // Big cursor batches come pre-serialised in parts (see batches.ts rawCursorReply).
    const body: Uint8Array[] = Array.isArray(reply.$rawReply) ? reply.$rawReply : [serializeReply(reply)];
    this.write(encodeMsgReply(requestId, body));
  }
}

function serializeReply(reply: Document): Uint8Array {
  try {
    return BSON.serialize(reply);
  } catch (e) {
    return BSON.serialize({ ok: 0, errmsg: `reply could not be serialised: ${(e as Error).message}`, code: 10334, codeName: 'BSONObjectTooLarge' });
  }
}

export async function startStandin(opts: StandinOptions = {}): Promise<RunningStandin> {
  const mongod = new Mongod(opts.params, opts.log ?? (() => {}));
  mongod.register([...adminCommands, ...userCommands, ...sessionCommands, ...killCommands, ...crudCommands, ...txnCommands, ...indexCommands]);
  for (const spec of opts.users ?? []) {
    const u = parseUserSpec(spec);
    mongod.auth.createUser(u.user, u.db, u.password, u.roles);
  }
  let nextConnId = 1;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    const id = nextConnId++;
    const remote = `${socket.remoteAddress?.replace(/^::ffff:/, '')}:${socket.remotePort}`;
    const conn = new Connection(id, remote, socket, mongod);
    mongod.connections.set(id, conn);
    mongod.stats.connectionsCreated++;
    mongod.log(`connection accepted: conn${id} from ${remote} (${mongod.connections.size} open)`);
  });
  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  mongod.hostAndPort = `${host}:${port}`;
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
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
