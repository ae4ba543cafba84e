/**
 * MongoDB wire protocol framing: what the Node driver (and other drivers) send, and what they accept back.
 *
 * Sources: mongodb/specifications `source/message/OP_MSG.md`; mongodb/mongo `src/mongo/rpc/op_msg.cpp`
 * (flag bits, section kinds, checksum) and `src/mongo/rpc/message.h` (header layout, opcodes);
 * node-mongodb-native `src/cmap/commands.ts` (the driver throws on kind-1 sections in replies, so replies are
 * always a single kind-0 body).
 */
import { BSON, type Document } from 'bson';
import { CommandError } from './errors.ts';

export const OP_REPLY = 1;
export const OP_QUERY = 2004;
export const OP_COMPRESSED = 2012;
export const OP_MSG = 2013;

/** `maxMessageSizeBytes` advertised in hello; mongod refuses larger messages (src/mongo/transport, MaxMessageSizeBytes). */
export const MAX_MESSAGE_SIZE_BYTES = 48_000_000;
/** `maxBsonObjectSize`: 16 MiB (src/mongo/bson/util/builder.h BSONObjMaxUserSize). */
export const MAX_BSON_OBJECT_SIZE = 16 * 1024 * 1024;
/** The header is four int32: messageLength, requestID, responseTo, opCode. */
export const HEADER_SIZE = 16;

/** OP_MSG flag bits (OP_MSG.md): bits 0-15 are "required" and must be understood; 16-31 optional. */
export const FLAG_CHECKSUM_PRESENT = 1 << 0;
export const FLAG_MORE_TO_COME = 1 << 1;
export const FLAG_EXHAUST_ALLOWED = 1 << 16;

/**
 * Deserialisation options for requests. Longs stay Long so that values that do not fit 53 bits
 * (killOp's `op: 9223372036854775807`) are seen as sent. Regexes stay BSONRegExp (pattern and options as
 * sent): they are matched with RE2 (regex.ts), never compiled as JavaScript RegExps, which backtrack.
 */
export const REQUEST_BSON_OPTIONS = { promoteLongs: false, bsonRegExp: true, validation: { utf8: false } } as const;

export interface ParsedQuery {
  kind: 'query';
  requestId: number;
  fullCollectionName: string;
  flags: number;
  command: Document;
}

export interface ParsedMsg {
  kind: 'msg';
  requestId: number;
  flagBits: number;
  moreToCome: boolean;
  exhaustAllowed: boolean;
  command: Document;
}

export interface UnsupportedOp {
  kind: 'unsupported';
  requestId: number;
  opCode: number;
}

export type ParsedMessage = ParsedQuery | ParsedMsg | UnsupportedOp;

function readCString(buf: Buffer, offset: number): [string, number] {
  const end = buf.indexOf(0, offset);
  if (end < 0) throw new CommandError(22, 'InvalidBSON', 'Invalid message: unterminated C string');
  return [buf.toString('utf8', offset, end), end + 1];
}

function readDocument(buf: Buffer, offset: number, limit: number): [Document, number] {
  if (offset + 5 > limit) throw new CommandError(22, 'InvalidBSON', 'Invalid message: truncated BSON document');
  const size = buf.readInt32LE(offset);
  if (size < 5 || offset + size > limit) {
    throw new CommandError(22, 'InvalidBSON', `Invalid BSON document: declared size ${size} exceeds the message`);
  }
  let doc: Document;
  try {
    doc = BSON.deserialize(buf.subarray(offset, offset + size), REQUEST_BSON_OPTIONS);
  } catch (e) {
    throw new CommandError(22, 'InvalidBSON', `BSON object not valid: ${(e as Error).message}`);
  }
  return [doc, offset + size];
}

/** Parses one complete message (header included). Throws CommandError for malformed content. */
export function parseMessage(buf: Buffer): ParsedMessage {
  const requestId = buf.readInt32LE(4);
  const opCode = buf.readInt32LE(12);
  if (opCode === OP_QUERY) {
    let offset = HEADER_SIZE;
    const flags = buf.readInt32LE(offset);
    offset += 4;
    const [fullCollectionName, next] = readCString(buf, offset);
    offset = next + 8; // numberToSkip, numberToReturn
    const [query] = readDocument(buf, offset, buf.length);
    // Legacy drivers may wrap the command as {$query: {...}, $readPreference: {...}}.
    const command = query.$query && typeof query.$query === 'object' ? (query.$query as Document) : query;
    return { kind: 'query', requestId, fullCollectionName, flags, command };
  }
  if (opCode === OP_MSG) {
    const flagBits = buf.readUInt32LE(HEADER_SIZE);
    // Unknown required bits (0-15 other than checksum/moreToCome) must be rejected (OP_MSG.md).
    const unknownRequired = flagBits & 0xffff & ~(FLAG_CHECKSUM_PRESENT | FLAG_MORE_TO_COME);
    if (unknownRequired) {
      // op_msg.cpp: uassert(ErrorCodes::IllegalOpMsgFlag, "Message contains illegal flags value: ...").
      throw new CommandError(223, 'IllegalOpMsgFlag', `Message contains illegal flags value: Flag ${unknownRequired.toString(2)}`);
    }
    const end = flagBits & FLAG_CHECKSUM_PRESENT ? buf.length - 4 : buf.length;
    let offset = HEADER_SIZE + 4;
    let body: Document | undefined;
    const sequences: [string, Document[]][] = [];
    while (offset < end) {
      const kind = buf[offset];
      offset += 1;
      if (kind === 0) {
        if (body) throw new CommandError(40430, 'Location40430', 'Multiple body sections in message');
        [body, offset] = readDocument(buf, offset, end);
      } else if (kind === 1) {
        const size = buf.readInt32LE(offset);
        const sectionEnd = offset + size;
        if (size < 5 || sectionEnd > end) throw new CommandError(22, 'InvalidBSON', 'Invalid document sequence size');
        let [identifier, cursor] = readCString(buf, offset + 4);
        const docs: Document[] = [];
        while (cursor < sectionEnd) {
          let doc: Document;
          [doc, cursor] = readDocument(buf, cursor, sectionEnd);
          docs.push(doc);
        }
        sequences.push([identifier, docs]);
        offset = sectionEnd;
      } else {
        throw new CommandError(40432, 'Location40432', `Unknown section kind ${kind}`);
      }
    }
    if (!body) throw new CommandError(40587, 'Location40587', 'OP_MSG requires a body');
    for (const [identifier, docs] of sequences) {
      // op_msg.cpp: a sequence may not duplicate a body field ("Duplicate field name in OP_MSG").
      if (identifier in body) {
        throw new CommandError(40433, 'Location40433', `Duplicate field name in OP_MSG: ${identifier}`);
      }
      body[identifier] = docs;
    }
    return {
      kind: 'msg',
      requestId,
      flagBits,
      moreToCome: (flagBits & FLAG_MORE_TO_COME) !== 0,
      exhaustAllowed: (flagBits & FLAG_EXHAUST_ALLOWED) !== 0,
      command: body,
    };
  }
  return { kind: 'unsupported', requestId, opCode };
}

let nextRequestId = 1;

function header(length: number, responseTo: number, opCode: number): Buffer {
  const h = Buffer.allocUnsafe(HEADER_SIZE);
  h.writeInt32LE(length, 0);
  h.writeInt32LE(nextRequestId++ & 0x7fffffff, 4);
  h.writeInt32LE(responseTo, 8);
  h.writeInt32LE(opCode, 12);
  return h;
}

/** An OP_MSG reply with a single kind-0 section holding an already-serialised body (possibly in parts). */
export function encodeMsgReply(responseTo: number, body: Uint8Array | Uint8Array[], flagBits = 0): Uint8Array[] {
  const parts = Array.isArray(body) ? body : [body];
  const length = HEADER_SIZE + 4 + 1 + parts.reduce((n, p) => n + p.length, 0);
  const prefix = Buffer.allocUnsafe(5);
  prefix.writeUInt32LE(flagBits, 0);
  prefix[4] = 0;
  return [header(length, responseTo, OP_MSG), prefix, ...parts];
}

/** OP_REPLY for the legacy OP_QUERY handshake: responseFlags, cursorID 0, startingFrom 0, numberReturned 1. */
export function encodeOpReply(responseTo: number, body: Uint8Array): Uint8Array[] {
  const length = HEADER_SIZE + 20 + body.length;
  const prefix = Buffer.alloc(20);
  prefix.writeInt32LE(8, 0); // AwaitCapable, as mongod sets on every OP_REPLY
  prefix.writeInt32LE(1, 16);
  return [header(length, responseTo, OP_REPLY), prefix, body];
}
