/**
 * A connection's inbound side: framing the byte stream into wire messages, and flow control so that one
 * client cannot make the stand-in buffer without bound or starve the other connections.
 *
 * mongod serves a connection with one thread that reads a message, runs it, sends the whole reply and only
 * then reads the next message (src/mongo/transport/session_workflow.cpp: source, process, sink, repeat). A
 * client that pipelines requests and never reads the replies therefore stalls only itself: the server blocks
 * in send(), stops reading, and TCP flow control pushes back on the client. The stand-in does the same with
 * an event loop: it stops reading the socket (socket.pause()) while a reply is not drained, or while enough
 * complete requests are already waiting, and resumes when both clear.
 */
import type net from 'node:net';
import { HEADER_SIZE, MAX_MESSAGE_SIZE_BYTES } from './wire.ts';

/**
 * Complete requests framed ahead of the one running. mongod reads none ahead (see above); a few let a
 * pipelining client's burst be framed from one read without a pause/resume per message.
 */
export const MAX_QUEUED_REQUESTS = 16;

/**
 * Bytes of complete requests waiting beyond which reading stops even below MAX_QUEUED_REQUESTS: one
 * maximal message (maxMessageSizeBytes, as advertised in hello), so sixteen 48 MB messages are never held.
 */
export const MAX_QUEUED_BYTES = MAX_MESSAGE_SIZE_BYTES;

/**
 * Splits a byte stream into messages in linear time: chunks are kept in a list with their total, and a
 * message is copied out once, when all of it is there (never re-concatenated on every data event).
 */
export class MessageFramer {
  private chunks: Buffer[] = [];
  /** Bytes of chunks[0] already consumed. */
  private offset = 0;
  private total = 0;
  /** Bytes copied to assemble messages that span chunks: at most the bytes received (tests check it). */
  copiedBytes = 0;

  get bufferedBytes(): number {
    return this.total;
  }

  push(data: Buffer): void {
    if (data.length === 0) return;
    this.chunks.push(data);
    this.total += data.length;
  }

  /** The declared length of the next message, or null while fewer than 4 bytes are buffered. */
  nextLength(): number | null {
    if (this.total < 4) return null;
    const first = this.chunks[0]!;
    if (first.length - this.offset >= 4) return first.readInt32LE(this.offset);
    const head = Buffer.allocUnsafe(4);
    this.copyOut(head, 4, false);
    return head.readInt32LE(0);
  }

  /** The next message of `length` bytes once all of it has arrived, else null. */
  take(length: number): Buffer | null {
    if (this.total < length) return null;
    const first = this.chunks[0]!;
    if (first.length - this.offset >= length) {
      const message = first.subarray(this.offset, this.offset + length);
      this.consume(length);
      return message;
    }
    const message = Buffer.allocUnsafe(length);
    this.copyOut(message, length, true);
    this.copiedBytes += length;
    return message;
  }

  /** Copies the first `n` buffered bytes into `into`, consuming them when asked. */
  private copyOut(into: Buffer, n: number, consume: boolean): void {
    let written = 0;
    let i = 0;
    let offset = this.offset;
    while (written < n) {
      const chunk = this.chunks[i]!;
      const count = Math.min(n - written, chunk.length - offset);
      chunk.copy(into, written, offset, offset + count);
      written += count;
      offset += count;
      if (offset === chunk.length) {
        i++;
        offset = 0;
      }
    }
    if (consume) this.consume(n);
  }

  private consume(n: number): void {
    this.total -= n;
    let left = n;
    while (left > 0) {
      const first = this.chunks[0]!;
      const available = first.length - this.offset;
      if (left < available) {
        this.offset += left;
        return;
      }
      left -= available;
      this.chunks.shift();
      this.offset = 0;
    }
  }
}

/** What serverStatus reports of a connection's flow control (standin.inbound). */
export interface InboundState {
  queuedRequests: number;
  queuedBytes: number;
  /** Reading is stopped. */
  paused: boolean;
  /** Reply bytes handed to the socket and not yet sent. */
  unsentReplyBytes: number;
}

export interface InboundHandlers {
  /** Runs one request; its reply is written to the socket before the promise settles. */
  handle(message: Buffer): Promise<void>;
  /** A declared length outside [HEADER_SIZE, maxMessageSizeBytes]: the connection is closed. */
  invalidLength(length: number): void;
  /** An exception escaped `handle`. */
  internalError(e: unknown): void;
}

/**
 * Reads requests from a socket one at a time, in order, with the flow control described above. Call
 * `closed()` when the socket is gone so that a wait for 'drain' ends.
 */
export class InboundQueue {
  private readonly framer = new MessageFramer();
  private readonly queue: Buffer[] = [];
  private queuedBytes = 0;
  private running = false;
  private paused = false;
  private ended = false;
  private waitingForDrain: (() => void) | null = null;

  constructor(private readonly socket: net.Socket, private readonly handlers: InboundHandlers) {
    socket.on('data', (d: Buffer) => {
      this.framer.push(d);
      this.frame();
      this.pump();
    });
    socket.on('drain', () => this.drained());
  }

  state(): InboundState {
    return { queuedRequests: this.queue.length, queuedBytes: this.queuedBytes, paused: this.paused, unsentReplyBytes: this.socket.writableLength };
  }

  closed(): void {
    this.ended = true;
    this.queue.length = 0;
    this.drained();
  }

  /** Moves complete messages from the framer to the queue, up to the bounds. */
  private frame(): void {
    while (!this.ended && this.queue.length < MAX_QUEUED_REQUESTS && this.queuedBytes < MAX_QUEUED_BYTES) {
      const length = this.framer.nextLength();
      if (length === null) break;
      if (length < HEADER_SIZE || length > MAX_MESSAGE_SIZE_BYTES) {
        this.ended = true;
        this.handlers.invalidLength(length);
        return;
      }
      const message = this.framer.take(length);
      if (!message) break;
      this.queue.push(message);
      this.queuedBytes += message.length;
    }
    this.updateReading();
  }

  /**
   * Reading stops while a reply waits to drain, or while complete requests wait and the bounds are reached;
   * it goes on while no complete request is there, so that a message up to maxMessageSizeBytes can arrive.
   */
  private updateReading(): void {
    const full = this.queue.length >= MAX_QUEUED_REQUESTS || (this.queue.length > 0 && this.queuedBytes + this.framer.bufferedBytes >= MAX_QUEUED_BYTES);
    const shouldPause = !this.ended && (this.socket.writableNeedDrain || full);
    if (shouldPause && !this.paused) this.socket.pause();
    if (!shouldPause && this.paused && !this.ended) this.socket.resume();
    this.paused = shouldPause;
  }

  private drained(): void {
    const wake = this.waitingForDrain;
    this.waitingForDrain = null;
    wake?.();
  }

  private async pump(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      while (!this.ended) {
        const message = this.queue.shift();
        if (!message) break;
        this.queuedBytes -= message.length;
        try {
          await this.handlers.handle(message);
        } catch (e) {
          this.handlers.internalError(e);
        }
        // As mongod's blocking send: the next request is not read until this reply is on its way.
        if (this.socket.writableNeedDrain && !this.ended) {
          this.updateReading();
          await new Promise<void>((resolve) => (this.waitingForDrain = resolve));
        }
        this.frame();
      }
    } finally {
      this.running = false;
    }
  }
}
