/**
 * One client connection: the legacy OP_QUERY handshake, OP_MSG, and one sequential command queue (mongod runs
 * one thread per client connection, so a connection's commands never overlap), with framing and flow control
 * in inbound.ts.
 *
 * Bad input never takes the server down: malformed BSON and unknown opcodes get the server's error reply,
 * a message whose declared length is below 16 bytes or above maxMessageSizeBytes closes that connection
 * (as mongod's transport layer does: "recv(): message msgLen ... is invalid"), and other connections carry on.
 *
 * Exhaust (OP_MSG.md, session_workflow.cpp): when a request has exhaustAllowed and the command's reply names a
 * next invocation ($nextInvocation, the awaitable hello), the reply goes out with moreToCome and the next
 * invocation runs at once, its reply answering the previous reply's requestID, until one comes without it or
 * the connection closes.
 */
import type net from 'node:net';
import { BSON, type Document } from 'bson';
import { CommandError, toErrorReply } from './errors.ts';
import type { ConnState, Mongod } from './mongod.ts';
import { InboundQueue, type InboundState } from './inbound.ts';
import { encodeMsgReply, encodeOpReply, HEADER_SIZE, MAX_MESSAGE_SIZE_BYTES, parseMessage, FLAG_MORE_TO_COME } from './wire.ts';

export class Connection implements ConnState {
  clientMetadata: Document | null = null;
  appName = '';
  user: { user: string; db: string } | null = null;
  supportsHello = false;
  readonly scram = new Map();
  readonly closed: Promise<void>;
  private markClosed!: () => void;
  private isClosed = false;
  private readonly inbound: InboundQueue;

  /**
   * @param replyLatencyMs every reply leaves this long after it is ready: a simulated network, so that a client's
   *   work is latency-bound as over a real one (replies keep their order: same-delay timers fire in order).
   */
  constructor(readonly id: number, readonly remote: string, private readonly socket: net.Socket, private readonly mongod: Mongod, private readonly replyLatencyMs = 0) {
    this.closed = new Promise((resolve) => (this.markClosed = resolve));
    socket.setNoDelay(true);
    this.inbound = new InboundQueue(socket, {
      handle: (message) => this.handle(message),
      invalidLength: (length) => {
        this.mongod.log(`conn${this.id}: recv(): message msgLen ${length} is invalid. Min ${HEADER_SIZE} Max: ${MAX_MESSAGE_SIZE_BYTES}; closing the connection`);
        this.close();
      },
      internalError: (e) => this.mongod.log(`conn${this.id}: internal error: ${(e as Error).stack ?? e}`),
    });
    socket.on('error', () => this.close());
    socket.on('close', () => this.onClose());
  }

  inboundState(): InboundState {
    return this.inbound.state();
  }

  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.inbound.closed();
    this.markClosed();
    this.socket.destroy();
  }

  private onClose(): void {
    this.isClosed = true;
    this.inbound.closed();
    this.markClosed();
    this.mongod.connections.delete(this.id);
    this.mongod.log(`connection ended: conn${this.id} ${this.remote} (${this.mongod.connections.size} open)`);
  }

  private write(parts: Uint8Array[]): void {
    if (this.isClosed) return;
    if (this.replyLatencyMs > 0) {
      setTimeout(() => this.send(parts), this.replyLatencyMs);
      return;
    }
    this.send(parts);
  }

  private send(parts: Uint8Array[]): void {
    if (this.isClosed) return;
    for (const p of parts) this.socket.write(p);
  }

  private async handle(message: Buffer): Promise<void> {
    if (this.isClosed) return;
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
    let command = parsed.command;
    let responseTo = requestId;
    for (;;) {
      const reply = await this.mongod.dispatch(this, command, parsed.exhaustAllowed);
      if (reply.$closed) return;
      // moreToCome from the client: fire-and-forget (w:0 writes); no reply is sent.
      if (parsed.flagBits & FLAG_MORE_TO_COME) return;
      const next = parsed.exhaustAllowed && reply.ok === 1 && reply.$nextInvocation ? (reply.$nextInvocation as Document) : null;
      delete reply.$nextInvocation;
      // Big cursor batches come pre-serialised in parts (see batches.ts rawCursorReply).
      const body: Uint8Array[] = Array.isArray(reply.$rawReply) ? reply.$rawReply : [serializeReply(reply)];
      const parts = encodeMsgReply(responseTo, body, next ? FLAG_MORE_TO_COME : 0);
      this.write(parts);
      if (!next || this.isClosed) return;
      command = next;
      responseTo = Buffer.from(parts[0]).readInt32LE(4);
    }
  }
}

function serializeReply(reply: Document): Uint8Array {
  try {
    return BSON.serialize(reply);
  } catch (e) {
    return BSON.serialize({ ok: 0, errmsg: `reply could not be serialised: ${(e as Error).message}`, code: 10334, codeName: 'BSONObjectTooLarge' });
  }
}
