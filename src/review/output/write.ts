/**
 * Writing with backpressure: when the stream's buffer is full (stdout piped into a slow reader),
 * wait for 'drain' before the next line, so output never accumulates in memory.
 */
import { once } from 'node:events';

export async function writeText(stream: NodeJS.WritableStream, text: string): Promise<void> {
  // A stream that already failed (the reader of the pipe went away) takes no more: stop reading.
  const errored = (stream as { errored?: Error | null }).errored;
  if (errored) throw errored;
  if (!stream.write(text)) await once(stream, 'drain');
}

/** The reader of our output closed it (`audit ... | head`): not a failure of ours. */
export function isClosedPipe(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === 'EPIPE';
}

/** Bytes gathered before one write: one write call per line would cost more than the rest of the read. */
const FLUSH_AT = 64 * 1024;

/**
 * Collects output lines and writes them in chunks, waiting for 'drain' between chunks, so memory
 * holds at most one chunk and the stream's buffer. write() returns a promise only when it flushed.
 */
export class ChunkedWriter {
  readonly #stream: NodeJS.WritableStream;
  #parts: string[] = [];
  #size = 0;

  constructor(stream: NodeJS.WritableStream) {
    this.#stream = stream;
  }

  write(text: string): Promise<void> | undefined {
    this.#parts.push(text);
    this.#size += text.length;
    return this.#size >= FLUSH_AT ? this.flush() : undefined;
  }

  async flush(): Promise<void> {
    if (this.#parts.length === 0) return;
    const chunk = this.#parts.join('');
    this.#parts = [];
    this.#size = 0;
    await writeText(this.#stream, chunk);
  }
}
