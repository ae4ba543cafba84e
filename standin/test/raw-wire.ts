/**
/**
 * Hand-built wire messages and a raw connection, for the tests that need bytes the driver cannot produce
 * (legacy opcodes, malformed messages, pipelined requests whose replies are never read, a command without
 * $readPreference to a secondary).
 */
import net from 'node:net';
import { BSON, type Document } from 'bson';
import { MessageFramer } from '../src/inbound.ts';

export function header(length: number, requestId: number, opCode: number): Buffer {
  const h = Buffer.alloc(16);
  h.writeInt32LE(length, 0);
  h.writeInt32LE(requestId, 4);
  h.writeInt32LE(0, 8);
  h.writeInt32LE(opCode, 12);
  return h;
}

export function opQuery(requestId: number, ns: string, doc: Document): Buffer {
  const body = Buffer.concat([Buffer.alloc(4), Buffer.from(`${ns}\0`), Buffer.from([0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]), BSON.serialize(doc)]);
  return Buffer.concat([header(16 + body.length, requestId, 2004), body]);
}

export function opMsg(requestId: number, flagBits: number, sections: Buffer[]): Buffer {
  const flags = Buffer.alloc(4);
  flags.writeUInt32LE(flagBits >>> 0, 0);
  const body = Buffer.concat([flags, ...sections]);
  return Buffer.concat([header(16 + body.length, requestId, 2013), body]);
}

export const kind0 = (doc: Document | Buffer): Buffer => Buffer.concat([Buffer.from([0]), Buffer.isBuffer(doc) ? doc : BSON.serialize(doc)]);

export function kind1(identifier: string, docs: Document[]): Buffer {
  const payload = Buffer.concat([Buffer.from(`${identifier}\0`), ...docs.map((d) => BSON.serialize(d))]);
  const size = Buffer.alloc(4);
  size.writeInt32LE(4 + payload.length, 0);
  return Buffer.concat([Buffer.from([1]), size, payload]);
}

/** A raw connection that reads whole replies: returns {opCode, doc} per reply. */
export class Raw {
  private readonly framer = new MessageFramer();
  private waiters: ((m: { opCode: number; doc: Document } | null) => void)[] = [];
  closed = false;
  private constructor(private readonly socket: net.Socket) {
    socket.on('data', (d) => {
      this.framer.push(d);
      for (let len = this.framer.nextLength(); len !== null; len = this.framer.nextLength()) {
        const msg = this.framer.take(len);
        if (!msg) break;
        const opCode = msg.readInt32LE(12);
        const docStart = opCode === 1 ? 36 : 21;
        this.waiters.shift()?.({ opCode, doc: BSON.deserialize(msg.subarray(docStart)) });
      }
    });
    socket.on('close', () => {
      this.closed = true;
      for (const w of this.waiters.splice(0)) w(null);
    });
  }
  static connect(port: number): Promise<Raw> {
    return new Promise((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1', () => resolve(new Raw(s)));
      s.once('error', reject);
    });
  }
  send(b: Buffer): Promise<{ opCode: number; doc: Document } | null> {
    const p = new Promise<{ opCode: number; doc: Document } | null>((r) => this.waiters.push(r));
    this.socket.write(b);
    return p;
  }
  write(b: Buffer): void {
    this.socket.write(b);
  }
  end(): void {
    this.socket.destroy();
  }
}

